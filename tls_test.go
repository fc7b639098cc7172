package siostream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
	"github.com/siostream/siostream/internal/testcert"
)

// selfSignedCert makes a self-signed ECDSA certificate for 127.0.0.1
// valid from notBefore to notAfter, and the pool that trusts it.
func selfSignedCert(t testing.TB, notBefore, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, err := testcert.SelfSigned(notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	return cert, testcert.Pool(cert)
}

func newTLSServer(t testing.TB, cert tls.Certificate) *sioserver.Server {
	t.Helper()
	return newServer(t, sioserver.Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
}

func TestTLSSelfSignedRejectedByDefault(t *testing.T) {
	cert, _ := selfSignedCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	srv := newTLSServer(t, cert)
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("server URL %s", srv.URL())
	}
	for _, url := range []string{srv.URL(), "wss://" + srv.Addr()} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := siostream.Dial(ctx, url, siostream.Options{})
		cancel()
		if err == nil {
			s.Close()
			t.Fatalf("%s: Dial with default options accepted a self-signed certificate", url)
		}
		var verr *tls.CertificateVerificationError
		var uerr x509.UnknownAuthorityError
		if !errors.As(err, &verr) || !errors.As(err, &uerr) {
			t.Errorf("%s: error %v (%T) is not a certificate verification error", url, err, err)
		}
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: error %q does not say it is about the certificate", url, err)
		}
		t.Logf("%s: %v", url, err)
	}
}

func TestTLSTrustedRootConnects(t *testing.T) {
	cert, pool := selfSignedCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	srv := newTLSServer(t, cert)
	for _, tc := range []struct{ name, url string }{
		{"https", srv.URL()},
		{"wss", "wss://" + srv.Addr()},
		{"wss with path", "wss://" + srv.Addr() + "/socket.io/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pool}
			s := dial(t, tc.url, siostream.Options{TLSConfig: cfg})
			next(t, s, siostream.KindConnected, 2*time.Second)
			if cfg.ServerName != "" || cfg.InsecureSkipVerify {
				t.Errorf("caller's tls.Config was changed: ServerName %q InsecureSkipVerify %v", cfg.ServerName, cfg.InsecureSkipVerify)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Emit(ctx, "echo", "over tls", []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, s, "echo", 5*time.Second)
			var text string
			var blob []byte
			if err := ev.Decode(&text, &blob); err != nil || text != "over tls" || string(blob) != "\x01\x02\x03" {
				t.Fatalf("echo %s %v: %v", ev.Args, ev.Attachments(), err)
			}
			reply, err := s.EmitWithAck(ctx, "ack", 7)
			if err != nil || string(reply.Args) != "[7]" {
				t.Fatalf("ack %s %v", reply, err)
			}
		})
	}
}

// TestTLSReconnectVerifiesAgain: every reconnection verifies the server's
// certificate again. Behind a proxy the upstream moves to a server with an
// untrusted certificate: reconnect attempts fail with the verification
// error, and succeed once the trusted server is back.
func TestTLSReconnectVerifiesAgain(t *testing.T) {
	now := time.Now()
	cert, pool := selfSignedCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	rogue, _ := selfSignedCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	good := newTLSServer(t, cert)
	bad := newTLSServer(t, rogue)
	p := newFaultProxy(t, good.Addr())
	s := dial(t, "https://"+p.Addr(), siostream.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	next(t, s, siostream.KindConnected, 2*time.Second)
	p.SetUpstream(bad.Addr())
	p.ResetAll()
	next(t, s, siostream.KindDisconnected, 5*time.Second)
	var failures int
	for failures < 3 {
		ev := next(t, s, siostream.KindConnectError, 5*time.Second)
		var uerr x509.UnknownAuthorityError
		if !errors.As(ev.Err(), &uerr) {
			t.Fatalf("reconnect to the rogue server: %v", ev.Err())
		}
		failures++
	}
	p.SetUpstream(good.Addr())
	next(t, s, siostream.KindConnected, 5*time.Second)
	accept(t, good) // the first connection
	c := accept(t, good)
	joinedOn(t, c)
	c.Emit("/", "after-reconnect")
	nextEvent(t, s, "after-reconnect", 5*time.Second)
	if n := bad.Connections(); n != 0 {
		t.Fatalf("the rogue server got %d WebSocket connections", n)
	}
}

func TestTLSVerificationFailures(t *testing.T) {
	now := time.Now()
	good, pool := selfSignedCert(t, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredPool := selfSignedCert(t, now.Add(-2*time.Hour), now.Add(-time.Hour))
	cases := []struct {
		name  string
		cert  tls.Certificate
		host  func(addr string) string
		roots *x509.CertPool
		check func(error) bool
	}{
		{"expired", expired, func(a string) string { return a }, expiredPool, func(err error) bool {
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce) && ce.Reason == x509.Expired
		}},
		{"name mismatch", good, func(a string) string { _, p, _ := net.SplitHostPort(a); return "localhost:" + p }, pool, func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
		{"other root", good, func(a string) string { return a }, func() *x509.CertPool { _, p := selfSignedCert(t, now, now.Add(time.Hour)); return p }(),
			func(err error) bool {
				var ue x509.UnknownAuthorityError
				return errors.As(err, &ue)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTLSServer(t, tc.cert)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := siostream.Dial(ctx, "https://"+tc.host(srv.Addr()), siostream.Options{TLSConfig: &tls.Config{RootCAs: tc.roots}})
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			if !tc.check(err) || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("error %v (%T)", err, err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestTLSNoInsecureOption: verification can only be weakened through an
// explicit tls.Config, never through an option of the SDK itself.
func TestTLSNoInsecureOption(t *testing.T) {
	typ := reflect.TypeFor[siostream.Options]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.ToLower(f.Name)
		if strings.Contains(name, "insecure") || strings.Contains(name, "skipverify") || strings.Contains(name, "noverify") {
			t.Errorf("Options.%s weakens certificate verification", f.Name)
		}
	}
	if typ.NumField() == 0 {
		t.Fatal("Options has no fields")
	}
}

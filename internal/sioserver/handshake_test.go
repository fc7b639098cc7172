package sioserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/siostream/siostream/frames"
)

func TestOpenPacket(t *testing.T) {
	s := newServer(t, Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 5000})
	tc := dialOpen(t, s)
	c := accept(t, s)
	o := tc.open
	if o.SID != c.ID() || len(o.SID) != 20 {
		t.Fatalf(
			"open sid %q, conn id %q, want the same 20 characters",
			o.SID, c.ID(),
		)
	}
	want := frames.Open{SID: o.SID, Upgrades: o.Upgrades, PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxPayload: 5000}
	if len(o.Upgrades) != 0 || fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf(
			"open %+v, want %+v",
			o, want,
		)
	}
	if got := s.Connections(); got != 1 {
		t.Fatalf(
			"Connections() = %d, want 1",
			got,
		)
	}
}

func TestHandshakeRejects(t *testing.T) {
	s := newServer(t, Options{})
	base := "ws://" + s.Addr()
	cases := []struct {
		name string
		url  string
	}{
		{
			name: "wrong path",
			url:  base + "/other/?EIO=4&transport=websocket",
		},
		{
			name: "EIO 3",
			url:  base + "/socket.io/?EIO=3&transport=websocket",
		},
		{
			name: "polling",
			url:  base + "/socket.io/?EIO=4&transport=polling",
		},
		{
			name: "sid",
			url:  base + "/socket.io/?EIO=4&transport=websocket&sid=abc",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			defer cancel()
			conn, _, _, err := ws.Dial(ctx, tc.url)
			if conn != nil {
				_ = conn.Close()
			}
			if !errors.Is(err, ws.StatusError(http.StatusBadRequest)) {
				t.Fatalf(
					"dial error %v, want status 400",
					err,
				)
			}
		})
	}
}

func TestPlainHTTPRejected(t *testing.T) {
	s := newServer(t, Options{})
	resp, err := http.Get(s.URL() + "/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf(
			"GET: %v",
			err,
		)
	}
	_ = resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf(
			"status %d, want 400",
			resp.StatusCode,
		)
	}
}

func TestTLS(t *testing.T) {
	s := newServer(t, Options{TLSConfig: selfSigned(t)})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf(
			"URL %q",
			s.URL(),
		)
	}
	tc := dialURL(t, tlsDialer(), "wss://"+s.Addr()+"/socket.io/?EIO=4&transport=websocket")
	tc.readOpen()
	tc.connect("/", "")
	tc.send(`42["echo","secure"]`)
	tc.expect(`42["echo","secure"]`)
}

// selfSigned returns a TLS config with a fresh certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

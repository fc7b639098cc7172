package proxytest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"
	"github.com/elazarl/goproxy"
	"github.com/siostream/siostream/internal/proxy"
	"github.com/siostream/siostream/internal/proxy/tunneltest"
	"github.com/siostream/siostream/internal/testcert"
)

// testDomain names hosts that only the test proxies resolve: to 127.0.0.1.
const testDomain = ".siostream.test"

// loopback maps addr to 127.0.0.1 when its host is under testDomain and
// refuses any host other than 127.0.0.1, so that the proxies under test
// reach nothing but this machine's loopback.
func loopback(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(host, testDomain) {
		host = "127.0.0.1"
	}
	if host != "127.0.0.1" {
		return "", fmt.Errorf("test proxies reach 127.0.0.1 only, not %s", host)
	}
	return net.JoinHostPort(host, port), nil
}

// dialLoopback dials addr after loopback.
func dialLoopback(ctx context.Context, addr string) (net.Conn, error) {
	a, err := loopback(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp4", a)
}

// greeting is what newGreeter's server writes first.
const greeting = "HELLO FROM THE SERVER\n"

// newGreeter starts a server that speaks first: it writes greeting as soon
// as it accepts, then echoes. Through a proxy the greeting arrives right
// behind the proxy's answer.
func newGreeter(t *testing.T) *tunneltest.Server {
	return tunneltest.NewServer(t, func(c net.Conn) {
		if _, err := io.WriteString(c, greeting); err == nil {
			io.Copy(c, c)
		}
	})
}

// httpProxy is a goproxy server answering CONNECT on a loopback listener,
// plain or behind TLS.
type httpProxy struct {
	url *url.URL

	mu       sync.Mutex
	connects []string // CONNECT targets, in order
}

// httpProxyConfig configures startHTTPProxy.
type httpProxyConfig struct {
	tls            bool
	user, password string          // credentials the proxy demands; none when user is ""
	hold           <-chan struct{} // if set, CONNECT handlers wait for it to close
	holding        chan<- struct{} // told when a handler starts waiting
}

// startHTTPProxy starts a goproxy server, stopped when the test ends. For a
// TLS proxy it also returns a config that trusts its certificate.
func startHTTPProxy(t *testing.T, cfg httpProxyConfig) (*httpProxy, *tls.Config) {
	t.Helper()
	hp := &httpProxy{}
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Tr = &http.Transport{} // no upstream proxy from the environment
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		return dialLoopback(req.Context(), addr)
	}
	gp.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		hp.mu.Lock()
		hp.connects = append(hp.connects, host)
		hp.mu.Unlock()
		if cfg.hold != nil {
			cfg.holding <- struct{}{}
			<-cfg.hold
			return goproxy.RejectConnect, host
		}
		if cfg.user != "" && !basicAuthIs(ctx.Req, cfg.user, cfg.password) {
			ctx.Resp = &http.Response{
				StatusCode: http.StatusProxyAuthRequired,
				ProtoMajor: 1,
				ProtoMinor: 1,
				Header:     http.Header{"Proxy-Authenticate": {`Basic realm="siostream test"`}},
				Body:       http.NoBody,
				Request:    ctx.Req,
			}
			return goproxy.RejectConnect, host
		}
		return goproxy.OkConnect, host
	})

	var handlers sync.WaitGroup
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			gp.ServeHTTP(w, r)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln := tunneltest.Listen(t)
	scheme := "http"
	var trust *tls.Config
	if cfg.tls {
		cert, err := testcert.SelfSigned(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		scheme, trust = "https", &tls.Config{RootCAs: testcert.Pool(cert)}
	}
	hp.url = &url.URL{Scheme: scheme, Host: ln.Addr().String()}
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
		handlers.Wait()
	})
	return hp, trust
}

// seen returns the CONNECT targets the proxy was asked for.
func (p *httpProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.connects...)
}

// withUser returns the proxy's URL with user info.
func (p *httpProxy) withUser(user, password string) *url.URL {
	u := *p.url
	u.User = url.UserPassword(user, password)
	return &u
}

func basicAuthIs(r *http.Request, user, password string) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Proxy-Authorization"), "Basic ")
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && string(b) == user+":"+password
}

// socksProxy is a go-socks5 server on a loopback listener.
type socksProxy struct {
	url *url.URL

	mu       sync.Mutex
	resolved []string // names the proxy resolved
	dests    []string // CONNECT destinations as received: a name or an IP
}

// startSOCKS starts a go-socks5 server, stopped when the test ends. With
// credentials it demands username/password authentication. It resolves
// names under testDomain to 127.0.0.1 and no others.
func startSOCKS(t *testing.T, credentials map[string]string) *socksProxy {
	t.Helper()
	sp := &socksProxy{}
	conf := &socks5.Config{
		Resolver: resolverFunc(sp.resolve),
		Rules:    rulesFunc(sp.allow),
		Logger:   log.New(io.Discard, "", 0),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialLoopback(ctx, addr)
		},
	}
	if credentials != nil {
		conf.Credentials = socks5.StaticCredentials(credentials)
	}
	srv, err := socks5.New(conf)
	if err != nil {
		t.Fatal(err)
	}
	ln := tunneltest.Listen(t)
	sp.url = &url.URL{Scheme: "socks5", Host: ln.Addr().String()}
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-served
	})
	return sp
}

func (p *socksProxy) resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	p.mu.Lock()
	p.resolved = append(p.resolved, name)
	p.mu.Unlock()
	if !strings.HasSuffix(name, testDomain) {
		return ctx, nil, fmt.Errorf("no such host %s", name)
	}
	return ctx, net.IPv4(127, 0, 0, 1), nil
}

func (p *socksProxy) allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	dest := req.DestAddr.FQDN
	if dest == "" {
		dest = req.DestAddr.IP.String()
	}
	p.mu.Lock()
	p.dests = append(p.dests, dest)
	p.mu.Unlock()
	return ctx, true
}

// seen returns the names the proxy resolved and the destinations it was
// asked for.
func (p *socksProxy) seen() (resolved, dests []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.resolved...), append([]string(nil), p.dests...)
}

// as returns the proxy's URL with scheme and, if user is set, user info.
func (p *socksProxy) as(scheme, user, password string) *url.URL {
	u := *p.url
	u.Scheme = scheme
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return &u
}

type resolverFunc func(context.Context, string) (context.Context, net.IP, error)

func (f resolverFunc) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	return f(ctx, name)
}

type rulesFunc func(context.Context, *socks5.Request) (context.Context, bool)

func (f rulesFunc) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	return f(ctx, req)
}

// dial calls proxy.Dial with a timeout; the connection is closed when the
// test ends.
func dial(t *testing.T, proxyURL *url.URL, addr string, d proxy.Dialer) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tunneltest.IOTimeout)
	defer cancel()
	c, err := proxy.Dial(ctx, proxyURL, addr, d)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func mustDial(t *testing.T, proxyURL *url.URL, addr string, d proxy.Dialer) net.Conn {
	t.Helper()
	c, err := dial(t, proxyURL, addr, d)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// asProxyError fails the test unless err is a *proxy.Error.
func asProxyError(t *testing.T, err error) *proxy.Error {
	t.Helper()
	var pe *proxy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *proxy.Error", err, err)
	}
	return pe
}

// noPassword fails the test if err's message shows password.
func noPassword(t *testing.T, err error, password string) {
	t.Helper()
	if password != "" && strings.Contains(err.Error(), password) {
		t.Errorf("message %q shows the password", err)
	}
}

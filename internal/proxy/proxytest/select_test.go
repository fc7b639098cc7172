package proxytest

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/siostream/siostream/internal/proxy"
	"github.com/siostream/siostream/internal/proxy/tunneltest"
	"golang.org/x/net/http/httpproxy"
)

// TestSelectAndDial chooses the proxy for WebSocket endpoints with the
// environment rules of net/http (httpproxy.Config is what
// http.ProxyFromEnvironment runs on HTTP_PROXY, HTTPS_PROXY and NO_PROXY)
// and dials through the chosen proxy, or directly when NO_PROXY says so.
func TestSelectAndDial(t *testing.T) {
	echo := tunneltest.NewEcho(t)
	plain, _ := startHTTPProxy(t, httpProxyConfig{})
	secure, trust := startHTTPProxy(t, httpProxyConfig{tls: true})
	env := httpproxy.Config{
		HTTPProxy:  plain.url.String(),
		HTTPSProxy: secure.url.String(),
		NoProxy:    "bypass.siostream.test,.internal.siostream.test",
	}
	choose := func(r *http.Request) (*url.URL, error) { return env.ProxyFunc()(r.URL) }

	tests := []struct {
		endpoint string
		via      *httpProxy // nil for a direct dial
	}{
		{"ws://chat.siostream.test:" + echo.Port() + "/socket.io/?EIO=4", plain},
		{"wss://chat.siostream.test:" + echo.Port() + "/socket.io/?EIO=4", secure},
		{"ws://bypass.siostream.test:" + echo.Port() + "/socket.io/", nil},
		{"wss://api.internal.siostream.test:" + echo.Port() + "/socket.io/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			endpoint, err := url.Parse(tt.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			p, err := proxy.Select(context.Background(), endpoint, choose)
			if err != nil {
				t.Fatal(err)
			}
			want := "none"
			if tt.via != nil {
				want = tt.via.url.String()
			}
			if got := urlString(p); got != want {
				t.Fatalf("Select chose %s, want %s", got, want)
			}
			before := [2]int{len(plain.seen()), len(secure.seen())}
			var direct []string
			d := proxy.Dialer{
				TLSConfig: trust,
				NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if p == nil {
						direct = append(direct, addr)
					}
					return dialLoopback(ctx, addr)
				},
			}
			c := mustDial(t, p, endpoint.Host, d)
			tunneltest.RoundTrip(t, c)

			after := [2]int{len(plain.seen()), len(secure.seen())}
			switch tt.via {
			case nil:
				if after != before || !slices.Equal(direct, []string{endpoint.Host}) {
					t.Errorf("direct dials %q, proxies asked %v times; want a direct dial only", direct, [2]int{after[0] - before[0], after[1] - before[1]})
				}
			default:
				if seen := tt.via.seen(); seen[len(seen)-1] != endpoint.Host {
					t.Errorf("proxy saw CONNECT %q, want %s last", seen, endpoint.Host)
				}
			}
		})
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return "none"
	}
	return u.String()
}

package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Select asks choose, a function of the type of http.Transport.Proxy,
// which proxy to use for target, a ws://, wss://, http:// or https:// URL.
// choose is given a GET request for the http:// or https:// equivalent of
// target, carrying ctx, so that a function written for net/http, such as
// http.ProxyFromEnvironment, treats a WebSocket endpoint as net/http
// treats that URL: HTTP_PROXY applies to ws://, HTTPS_PROXY to wss://, and
// NO_PROXY to both. A nil choose means http.ProxyFromEnvironment.
//
// A nil URL and nil error mean no proxy: dial target directly. target is
// not changed.
func Select(ctx context.Context, target *url.URL, choose func(*http.Request) (*url.URL, error)) (*url.URL, error) {
	if choose == nil {
		choose = http.ProxyFromEnvironment
	}
	u := *target
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("proxy: cannot choose a proxy for scheme %q (want ws, wss, http or https)", target.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy: cannot choose a proxy for a URL without a host")
	}
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}).WithContext(ctx)
	p, err := choose(req)
	if err != nil {
		// Name only scheme and host: the query may carry credentials.
		return nil, fmt.Errorf("proxy: choosing the proxy for %s://%s: %w", u.Scheme, u.Host, err)
	}
	return p, nil
}

// FromEnvironment is Select with http.ProxyFromEnvironment: the proxy that
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lowercase forms) give for
// target, or nil for none. As in net/http the environment is read once, on
// first use in the process, and requests to localhost and loopback
// addresses never use a proxy.
func FromEnvironment(target *url.URL) (*url.URL, error) {
	return Select(context.Background(), target, http.ProxyFromEnvironment)
}

package proxy

import "net/http"

// Error is a proxy's refusal to open a tunnel: an HTTP proxy's non-2xx
// answer to CONNECT, or a SOCKS5 proxy's failure reply or rejection of the
// credentials. Match it with errors.As.
type Error struct {
	// Proxy is the proxy's URL with its password, if any, replaced by
	// "xxxxx".
	Proxy string
	// Addr is the host:port the tunnel was asked for.
	Addr string
	// StatusCode is an HTTP proxy's status code, such as 407. Zero for a
	// SOCKS5 proxy.
	StatusCode int
	// Status is an HTTP proxy's status ("407 Proxy Authentication
	// Required"), or what a SOCKS5 proxy's answer means ("connection
	// refused").
	Status string
	// Reply is a SOCKS5 proxy's reply code (RFC 1928, section 6). Zero for
	// an HTTP proxy and for a SOCKS5 authentication failure.
	Reply byte

	auth     bool // the credentials were missing or wrong
	sentAuth bool // credentials were sent
}

// AuthRequired reports whether the proxy refused because credentials were
// missing or wrong: an HTTP 407, or a SOCKS5 proxy that rejected the
// username and password or wants some when none were given.
func (e *Error) AuthRequired() bool {
	return e.StatusCode == http.StatusProxyAuthRequired || e.auth
}

func (e *Error) Error() string {
	msg := "proxy: " + e.Proxy + " refused the tunnel to " + e.Addr + ": " + e.Status
	switch {
	case !e.AuthRequired():
		return msg
	case e.sentAuth:
		return msg + " (proxy authentication failed: check the user:password in the proxy URL)"
	}
	return msg + " (proxy authentication required: put user:password in the proxy URL)"
}

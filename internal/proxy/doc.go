// Package proxy opens TCP tunnels through HTTP, HTTPS and SOCKS5 proxies
// for the SDK's WebSocket dialer, with the behaviour users of net/http
// expect.
//
//	p, err := proxy.FromEnvironment(endpoint) // HTTP_PROXY, HTTPS_PROXY, NO_PROXY
//	if err != nil {
//		return err
//	}
//	conn, err := proxy.Dial(ctx, p, "chat.example.com:443", proxy.Dialer{})
//
// # Schemes
//
//   - http://user:password@host:port sends HTTP/1.1 CONNECT host:port,
//     with Proxy-Authorization: Basic from the URL's user info.
//   - https:// does the same over TLS to the proxy.
//   - socks5:// speaks RFC 1928 (CONNECT only) with no authentication or
//     the username and password of RFC 1929; the target's name is
//     resolved here and the proxy is sent an IP address.
//   - socks5h:// sends the name to the proxy, which resolves it.
//
// Missing ports default to 80, 443 and 1080.
//
// # Context
//
// ctx bounds the whole of Dial: the TCP dial, the TLS handshake with an
// https:// proxy and the proxy's handshake. Its deadline is set on the
// connection while the proxy answers and cleared after; if ctx ends first
// the connection is closed and Dial returns an error matching ctx.Err().
// Once Dial has returned, ctx no longer matters. Dial starts no lasting
// goroutine: at most, when ctx ends mid-handshake, the function that closes
// the connection finishes just after Dial returns.
//
// # Errors
//
// A proxy that refuses the tunnel yields an [*Error]. The proxy's password
// never appears in an error message.
package proxy

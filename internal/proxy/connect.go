package proxy

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
)

// maxResponseHeader bounds the proxy's answer to CONNECT, status line and
// header fields together. A real answer is a few hundred bytes.
const maxResponseHeader = 64 << 10

// connectHTTP asks the HTTP proxy on c for a tunnel to addr and returns the
// tunnel. Bytes the proxy sent after its answer are read first.
func connectHTTP(c net.Conn, proxyURL *url.URL, addr string, extra http.Header) (net.Conn, error) {
	h := extra.Clone()
	if h == nil {
		h = make(http.Header)
	}
	if u := proxyURL.User; u != nil {
		password, _ := u.Password()
		auth := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + password))
		h.Set("Proxy-Authorization", "Basic "+auth)
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: h,
	}
	if err := req.Write(c); err != nil {
		return nil, fmt.Errorf("proxy: send CONNECT to %s: %w", redact(proxyURL), err)
	}
	limit := &io.LimitedReader{R: c, N: maxResponseHeader}
	br := bufio.NewReader(limit)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if limit.N == 0 {
			err = fmt.Errorf("answer header over %d bytes", maxResponseHeader)
		}
		return nil, fmt.Errorf("proxy: read CONNECT answer from %s: %w", redact(proxyURL), err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &Error{
			Proxy:      redact(proxyURL),
			Addr:       addr,
			StatusCode: resp.StatusCode,
			Status:     resp.Status,
			sentAuth:   h.Get("Proxy-Authorization") != "",
		}
	}
	// Whatever follows the header is the tunnel's first bytes; the body
	// framing of a 2xx answer to CONNECT is ignored (RFC 9110, 9.3.6).
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		return &prefixConn{Conn: c, prefix: bytes.Clone(rest)}, nil
	}
	return c, nil
}

// prefixConn is a connection whose reads return prefix before reading Conn.
type prefixConn struct {
	net.Conn

	mu     sync.Mutex
	prefix []byte // guarded by mu; emptied by Read
}

func (c *prefixConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.prefix) == 0 {
		c.mu.Unlock()
		return c.Conn.Read(p)
	}
	n := copy(p, c.prefix)
	c.prefix = c.prefix[n:]
	c.mu.Unlock()
	return n, nil
}

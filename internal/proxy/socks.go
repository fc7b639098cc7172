package proxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
)

// SOCKS5 wire values (RFC 1928, RFC 1929).
const (
	socksVersion    = 5
	passwordVersion = 1 // of the username/password subnegotiation

	methodNone     = 0x00
	methodPassword = 0x02
	methodRefused  = 0xff

	cmdConnect = 1

	atypIPv4 = 1
	atypName = 3
	atypIPv6 = 4
)

// socksAddr is the target of a SOCKS5 CONNECT: an IP address, or a name
// for the proxy to resolve.
type socksAddr struct {
	ip   netip.Addr
	host string // when ip is not valid
	port uint16
}

// nameTarget is host:port for the proxy to resolve; an IP literal is sent
// as an address.
func nameTarget(host string, port uint16) socksAddr {
	if ip, err := netip.ParseAddr(host); err == nil {
		return socksAddr{ip: ip.Unmap(), port: port}
	}
	return socksAddr{host: host, port: port}
}

func (a socksAddr) String() string {
	if a.ip.IsValid() {
		return netip.AddrPortFrom(a.ip, a.port).String()
	}
	return net.JoinHostPort(a.host, strconv.Itoa(int(a.port)))
}

// socksSession is one SOCKS5 handshake on c.
type socksSession struct {
	c        net.Conn
	proxyURL *url.URL
	to       socksAddr
}

// connectSOCKS asks the SOCKS5 proxy on c for a tunnel to to. It reads
// exactly the proxy's answer, so nothing of the tunnel is lost.
func connectSOCKS(c net.Conn, proxyURL *url.URL, to socksAddr) error {
	s := socksSession{c: c, proxyURL: proxyURL, to: to}
	req, err := appendConnect(make([]byte, 0, 6+256), to)
	if err != nil {
		return s.errorf("%w", err)
	}
	if err := s.negotiate(); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return s.errorf("send CONNECT: %w", err)
	}
	return s.readReply()
}

// negotiate offers no authentication, and username/password when the URL
// has user info, then authenticates as the proxy chose.
func (s *socksSession) negotiate() error {
	greeting := []byte{socksVersion, 1, methodNone}
	if s.proxyURL.User != nil {
		greeting = []byte{socksVersion, 2, methodNone, methodPassword}
	}
	if _, err := s.c.Write(greeting); err != nil {
		return s.errorf("send greeting: %w", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(s.c, b[:]); err != nil {
		return s.errorf("read method: %w", err)
	}
	if b[0] != socksVersion {
		return s.errorf("proxy answered with version %d, not 5", b[0])
	}
	switch {
	case b[1] == methodNone:
		return nil
	case b[1] == methodPassword && s.proxyURL.User != nil:
		return s.authenticate()
	case b[1] == methodRefused:
		return s.refusal("no acceptable authentication method", 0, s.proxyURL.User == nil)
	}
	return s.errorf("proxy chose authentication method %d, which was not offered", b[1])
}

// authenticate sends the URL's username and password (RFC 1929).
func (s *socksSession) authenticate() error {
	user := s.proxyURL.User.Username()
	password, _ := s.proxyURL.User.Password()
	if len(user) < 1 || len(user) > 255 || len(password) > 255 {
		return s.errorf("username must be 1 to 255 bytes and password at most 255")
	}
	msg := make([]byte, 0, 3+len(user)+len(password))
	msg = append(msg, passwordVersion, byte(len(user)))
	msg = append(msg, user...)
	msg = append(msg, byte(len(password)))
	msg = append(msg, password...)
	_, err := s.c.Write(msg)
	clear(msg)
	if err != nil {
		return s.errorf("send credentials: %w", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(s.c, b[:]); err != nil {
		return s.errorf("read authentication status: %w", err)
	}
	if b[0] != passwordVersion {
		return s.errorf("authentication answer has version %d, not 1", b[0])
	}
	if b[1] != 0 {
		return s.refusal("username and password rejected", 0, true)
	}
	return nil
}

// appendConnect appends the CONNECT request for to.
func appendConnect(b []byte, to socksAddr) ([]byte, error) {
	b = append(b, socksVersion, cmdConnect, 0)
	switch {
	case to.ip.Is4():
		b = append(append(b, atypIPv4), to.ip.AsSlice()...)
	case to.ip.Is6():
		b = append(append(b, atypIPv6), to.ip.AsSlice()...)
	case len(to.host) == 0 || len(to.host) > 255:
		return nil, fmt.Errorf("host name %q is not 1 to 255 bytes", to.host)
	default:
		b = append(append(b, atypName, byte(len(to.host))), to.host...)
	}
	return binary.BigEndian.AppendUint16(b, to.port), nil
}

// readReply reads the proxy's reply to CONNECT, bound address included.
func (s *socksSession) readReply() error {
	var b [1 + 255 + 2]byte // the longest bound address: a name, and the port
	if _, err := io.ReadFull(s.c, b[:4]); err != nil {
		return s.errorf("read reply: %w", err)
	}
	if b[0] != socksVersion {
		return s.errorf("reply has version %d, not 5", b[0])
	}
	if b[1] != 0 {
		return s.refusal(replyText(b[1]), b[1], false)
	}
	var n int
	switch b[3] {
	case atypIPv4:
		n = 4 + 2
	case atypIPv6:
		n = 16 + 2
	case atypName:
		if _, err := io.ReadFull(s.c, b[:1]); err != nil {
			return s.errorf("read reply: %w", err)
		}
		n = int(b[0]) + 2
	default:
		return s.errorf("reply has address type %d", b[3])
	}
	if _, err := io.ReadFull(s.c, b[:n]); err != nil {
		return s.errorf("read reply: %w", err)
	}
	return nil
}

// replyText says what a SOCKS5 reply code means (RFC 1928, section 6).
func replyText(code byte) string {
	texts := [...]string{
		1: "general SOCKS server failure",
		2: "connection not allowed by ruleset",
		3: "network unreachable",
		4: "host unreachable",
		5: "connection refused",
		6: "TTL expired",
		7: "command not supported",
		8: "address type not supported",
	}
	if int(code) < len(texts) && texts[code] != "" {
		return fmt.Sprintf("%s (SOCKS5 reply %d)", texts[code], code)
	}
	return fmt.Sprintf("SOCKS5 reply %d", code)
}

func (s *socksSession) refusal(status string, reply byte, auth bool) error {
	return &Error{
		Proxy:    redact(s.proxyURL),
		Addr:     s.to.String(),
		Status:   status,
		Reply:    reply,
		auth:     auth,
		sentAuth: s.proxyURL.User != nil,
	}
}

func (s *socksSession) errorf(format string, args ...any) error {
	return fmt.Errorf("proxy: socks5 handshake with %s for %s: %w", redact(s.proxyURL), s.to, fmt.Errorf(format, args...))
}

package siotest

import (
	"encoding/json"
	"errors"

	"github.com/siostream/siostream/internal/sioserver"
)

func authorizer(f func(string, json.RawMessage) error) func(string, json.RawMessage) *sioserver.Reject {
	if f == nil {
		return nil
	}
	return func(ns string, auth json.RawMessage) *sioserver.Reject {
		err := f(ns, auth)
		if err == nil {
			return nil
		}
		var ce *ConnectError
		if errors.As(err, &ce) {
			return &sioserver.Reject{Message: ce.Message, Data: ce.Data}
		}
		return &sioserver.Reject{Message: err.Error()}
	}
}

func handler(h func(*Conn, *Packet), wrap func(*sioserver.Conn) *Conn) func(*sioserver.Conn, *sioserver.Received) {
	if h == nil {
		return sioserver.EchoHandler
	}
	return func(c *sioserver.Conn, r *sioserver.Received) {
		h(wrap(c), newPacket(c, r))
	}
}

// DefaultHandler is the handler of a server whose [Options.Handler] is
// nil, and a fallback for custom handlers: it emits each "echo" event
// back to its namespace as "echo" with the same arguments (binary ones as
// attachments again), and acknowledges each event that asks for it,
// "echo" included, with the event's own arguments.
func DefaultHandler(c *Conn, p *Packet) {
	if c == nil || p == nil || p.raw == nil {
		return
	}
	sioserver.EchoHandler(c.c, p.raw)
}

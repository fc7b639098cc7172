package sioserver

import "github.com/siostream/siostream/frames"

// DefaultHandler is the handler used when [Options.Handler] is nil:
//   - "disconnect-me" sends DISCONNECT for the event's namespace;
//   - "drop-me" closes the TCP connection abruptly ([Conn.Drop]);
//   - any other event is handled by [EchoHandler].
func DefaultHandler(c *Conn, ev *Received) {
	switch ev.Name {
	case "disconnect-me":
		_ = c.Disconnect(ev.Namespace)
	case "drop-me":
		c.Drop()
	default:
		EchoHandler(c, ev)
	}
}

// EchoHandler emits "echo" events back as "echo" with the same arguments
// (binary ones as binary attachments again), and acknowledges every event
// that carries an ack id, "echo" included, with its own arguments. Write
// errors are ignored: they end the connection.
func EchoHandler(c *Conn, ev *Received) {
	if ev.Name == "echo" {
		_ = c.emitEncoded(ev.Namespace, "echo", rawArgs(ev), 0, false)
	}
	if ev.HasID {
		_ = c.ackOwnArgs(ev)
	}
}

// rawArgs returns the arguments of a received event as they came, binary
// placeholders and attachments included.
func rawArgs(ev *Received) encoded {
	_, rest, _ := frames.SplitEvent(ev.RawData)
	return encoded{rest: rest, atts: ev.Attachments}
}

// ackOwnArgs acknowledges ev with its own arguments.
func (c *Conn) ackOwnArgs(ev *Received) error {
	m := rawArgs(ev)
	return c.writeMessage(ackFrame(ev.Namespace, ev.ID, m), m.atts)
}

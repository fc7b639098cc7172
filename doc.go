// Package siostream is a Socket.IO client (protocol v5 over Engine.IO v4,
// WebSocket transport) that hands a connection to Go code as a channel of
// typed Event values plus an Emit method.
//
//	s, err := siostream.Dial(ctx, "https://chat.example.com", siostream.Options{
//		Namespace: "/realtime",
//		Auth: func(ctx context.Context) (any, error) {
//			return map[string]any{"token": tokens.Fresh(ctx)}, nil
//		},
//	})
//	if err != nil {
//		return err // a *ConnectError when the server refused the namespace
//	}
//	defer s.Close()
//	for ev := range s.Events() {
//		if ev.Kind == siostream.KindEvent {
//			fmt.Println(ev.Name, string(ev.Args))
//		}
//	}
//
// Several namespaces can share one connection through a Manager:
//
//	m, _ := siostream.NewManager("https://chat.example.com", siostream.Options{})
//	chat, _ := m.Dial(ctx, siostream.Options{Namespace: "/chat"})
//	admin, _ := m.Dial(ctx, siostream.Options{Namespace: "/admin", Auth: adminAuth})
//
// # Concurrency
//
// Every method of Stream and Manager is safe for concurrent use. Emit from
// any number of goroutines: one writer goroutine writes whole frames, so
// packets never interleave. Receive Events from one goroutine to see them
// in wire order. A connection runs two goroutines: the reader, which is
// also the reconnect loop, and the writer; only the reader while it waits
// to reconnect. Close of the last stream of a connection waits for both.
//
// # Acks and binary
//
// EmitWithAck returns the server's reply; Event.Ack answers a server that
// asked for one, once, and only on the connection the event came on.
// []byte values anywhere in Emit's args go out as binary attachments;
// received attachments are in Event.Attachments, decode into []byte with
// Event.Decode, and come back as []byte from Event.Values.
//
// # Backpressure
//
// The Events channel holds up to Options.EventBuffer events and
// Options.MaxBufferedBytes bytes. What happens beyond that is
// Options.SlowConsumer: BlockSlowConsumer (the default) stops reading so
// that TCP pushes back on the server, DropNewest drops and counts, and
// DisconnectSlowConsumer ends the stream with ErrSlowConsumer. Pongs never
// wait for the consumer: the reader answers every ping it reads through the
// writer goroutine, and while the reader waits for the consumer the
// heartbeat clock is paused, so a slow consumer never causes a false ping
// timeout. Emits block until written, so a slow server pushes back on
// emitters; emits made while disconnected are buffered, bounded by
// Options.EmitBufferCount and Options.EmitBufferBytes. On a Manager the
// streams share one reader: a stream that blocks holds up every namespace
// of its connection, so give such streams DropNewest or a larger buffer.
//
// # Reconnection
//
// After a transport close or error, a ping timeout or a protocol error the
// stream reconnects with exponential backoff (1 s doubling to 5 s, ±50 %,
// unlimited attempts by default), calling Options.Auth and Options.Header
// again before every attempt, so that a fresh token is sent each time. The
// server's DISCONNECT, and its CONNECT_ERROR on reconnect, end the stream
// unless Options.ReconnectOnServerDisconnect is set. Each change shows up in
// the channel as a KindDisconnected, KindReconnecting, KindConnectError or
// KindConnected event. When the server has connection state recovery on,
// the stream sends its session id and last offset on reconnect and reports
// in KindConnected whether the session was recovered.
//
// # Errors
//
// Errors are siostream:-prefixed sentinels (ErrClosed, ErrPayloadTooLarge,
// ...) matched with errors.Is, and two types for errors.As: *ConnectError,
// the server's refusal with its message and data, and *ProtocolError, a
// frame that broke the protocol. Malformed input never panics: the
// connection it came on is dropped with reason "parse error" and the stream
// reconnects.
package siostream

// Package siostream is a Socket.IO client (protocol v5 over Engine.IO v4,
// WebSocket transport) that hands a connection to Go code as a channel of
// typed Event values plus an Emit method.
//
//	s, err := siostream.Dial(ctx, "https://chat.example.com/realtime", siostream.Options{
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
// The URL's path names the namespace, as with socket.io-client (or set
// Options.Namespace); the Engine.IO endpoint is Options.Path, /socket.io/
// by default. Dial returns once the server accepted the namespace, or with
// the reason it could not; Open returns at once and connects in the
// background, retrying as a reconnect does. Several namespaces can share
// one connection through a Manager:
//
//	m, _ := siostream.NewManager("https://chat.example.com", siostream.Options{})
//	chat, _ := m.Dial(ctx, siostream.Options{Namespace: "/chat"})
//	admin, _ := m.Dial(ctx, siostream.Options{Namespace: "/admin", Auth: adminAuth})
//
// # Concurrency
//
// Every method of Stream and Manager is safe for concurrent use. Emit from
// any number of goroutines; receive Events from one goroutine to see them
// in wire order. A connection runs one goroutine for good, the reader,
// which also reconnects; the writer runs only while something waits to be
// written, and a stream's pump only while events wait behind its Events
// channel. An idle stream costs one goroutine. Closing the last stream of
// a connection waits for all of them.
//
// # Receiving and backpressure
//
// Options.MaxBufferedBytes (32 MiB by default) bounds the events waiting
// for the consumer: in the Events channel, in a queue behind it that grows
// with what waits and gives memory back when drained, and those held
// before a CONNECT reply. An event counts everything it holds: name,
// arguments, attachments and itself. While the budget holds, the reader
// keeps reading and answering the server's pings, however many events
// wait: a consumer may stall for as long as the budget lasts. Beyond it,
// Options.SlowConsumer applies, each at a price:
//
//   - BlockSlowConsumer (the default) stops reading. Nothing is lost on
//     the client, but nobody answers pings meanwhile: after its ping
//     timeout the server drops the connection and the stream reconnects;
//     what the server had not sent is lost unless it recovers sessions.
//   - DropNewest keeps reading and answering pings and drops the events
//     that do not fit; the next delivered event reports how many
//     (Event.Dropped), and Stats.Dropped counts them all.
//   - DisconnectSlowConsumer ends the stream with ErrSlowConsumer; the
//     events already waiting are still delivered, then the channel closes.
//
// Stats are exact: Received = Delivered + Dropped + Waiting at every
// moment.
//
// # Emitting
//
// Emit validates and encodes at once (a reserved name, an argument that
// does not encode and a packet over the server's maxPayload fail before
// anything is sent) and returns once the packet is in the stream's
// outgoing buffer, in order after those emitted before it; Flush waits
// until they are all on the wire. The buffer is bounded by
// Options.EmitBufferBytes: while connected Emit waits for room (a server
// that does not read pushes back on emitters) or for its ctx; while
// disconnected packets wait for the next connection, bounded by
// EmitBufferCount and EmitBufferBytes, and Emit fails with ErrBufferFull
// past them. A packet whose write fails is neither lost silently nor sent
// twice: unless it reached the socket in full, it goes out again after
// reconnection, in order, or is counted in Stats.Unsent when the stream
// ends first. A packet that reached the socket may still be lost with the
// connection; EmitWithAck or Options.Retries tell when the server has it.
// Pongs never wait behind emits longer than the frame being written.
// Close puts its DISCONNECT behind what the stream emitted; closing the
// connection's last stream waits for those writes at most a second, and
// only while the server reads. Flush before Close waits for everything,
// bounded by its ctx alone; packets still unwritten when the stream ends
// are counted in Stats.Unsent.
//
// # Acks and binary
//
// EmitWithAck returns the server's Reply; Event.Ack answers a server that
// asked for one, once, and only on the connection the event came on.
// []byte values anywhere in Emit's args go out as binary attachments. A
// received attachment stands in Args as its placeholder; Decode, Arg and
// Values of Event and Reply put the bytes in its place, and Attachments
// gives them as they came. Each placeholder must name a different
// attachment: a packet that names one twice is a protocol error.
//
// # Reconnection
//
// After a transport close or error, a ping timeout, a write that makes no
// progress for Options.WriteTimeout, or a protocol error, the stream
// reconnects with exponential backoff (1 s doubling to 5 s, ±50 %,
// unlimited attempts by default), calling Options.Auth and Options.Header
// again before every attempt, so that a fresh token is sent each time.
// Options.Jar keeps the handshake's cookies across reconnects and
// Options.Proxy (HTTP_PROXY and friends by default) chooses a proxy. The
// server's DISCONNECT, and its CONNECT_ERROR on reconnect, end the stream
// unless Options.ReconnectOnServerDisconnect is set. Each change shows up
// in the channel as a KindDisconnected, KindReconnecting, KindConnectError
// or KindConnected event. When the server has connection state recovery
// on, the stream sends its session id and last offset on reconnect and
// reports in KindConnected whether the session was recovered.
//
// # Errors
//
// Errors are siostream:-prefixed sentinels (ErrClosed, ErrPayloadTooLarge,
// ...) matched with errors.Is, and types for errors.As: *DialError, which
// names the step of a connect that failed (TCP connect, proxy tunnel, TLS
// handshake, WebSocket upgrade, Engine.IO open, Socket.IO CONNECT), the
// URL tried and, for a refused upgrade, the HTTP status; *ConnectError,
// the server's refusal with its message and data (an unknown namespace
// matches ErrUnknownNamespace); and *ProtocolError, a frame that broke the
// protocol. Malformed input never panics: the connection it came on is
// dropped with reason "parse error" and the stream reconnects. Errors and
// logs never show a URL's user info or query, nor Auth's or Header's
// values.
package siostream

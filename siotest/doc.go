// Package siotest starts in-process Socket.IO servers for the tests of
// code that uses siostream, as net/http/httptest does for HTTP.
//
// A [Server] listens on a loopback port and speaks Socket.IO v5 over
// Engine.IO v4 and WebSocket, like the reference server. Its URL goes to
// siostream.Dial. Out of the box it accepts every CONNECT, echoes "echo"
// events and acknowledges the events that ask for it ([DefaultHandler]).
// [Options] refuse CONNECTs ([Options.Authorize]), replace the handler,
// shorten the heartbeat, lower the maximum payload and turn connection
// state recovery on. [Server.Accept] hands over each connection as a
// [Conn], which a test scripts: emit events (binary ones too), ask for an
// acknowledgement and read the reply, read what the client sent with
// [Conn.Next] and answer it with [Packet.Ack], and misbehave on demand:
// disconnect a namespace, drop the connection, stop pinging, stop
// reading.
//
//	func TestGreeting(t *testing.T) {
//		srv := siotest.NewServer(siotest.Options{})
//		defer srv.Close()
//		ctx := t.Context()
//
//		s, err := siostream.Dial(ctx, srv.URL(), siostream.Options{})
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer s.Close()
//
//		c, err := srv.Accept(ctx)
//		if err != nil {
//			t.Fatal(err)
//		}
//		c.Emit("/", "greeting", "hello")
//		// ... the code under test reads s.Events() and answers ...
//		p, err := c.NextEvent(ctx)
//		if err != nil {
//			t.Fatal(err)
//		}
//		var text string
//		if err := p.Decode(&text); err != nil || p.Name != "reply" {
//			t.Fatalf("got %s %s, %v", p.Name, p.Args, err)
//		}
//	}
//
// # TLS
//
// [NewTLSServer] starts a server with a self-signed certificate; pass
// [Server.ClientTLSConfig] as siostream.Options.TLSConfig to trust it.
//
// # Concurrency
//
// All methods of Server, Conn and Packet are safe for concurrent use.
// Each connection has one goroutine that reads the client's packets and
// runs [Options.Handler] for its events, in order; writes from any
// goroutine are serialised per connection, a packet and its binary
// attachments as one unit.
//
// # Goroutines
//
// Every goroutine the package starts belongs to a Server and ends when
// its connection ends or at [Server.Close], which waits for all of them,
// so a test that closes its servers leaks none.
package siotest

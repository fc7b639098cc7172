// Package sioserver is an in-process Engine.IO v4 / Socket.IO v5 server that
// speaks the WebSocket transport only.
//
// It exists to exercise clients: besides behaving like the reference server
// (open packet, heartbeat, namespaces, acknowledgements, binary attachments,
// connection state recovery), it can misbehave on demand: write raw or
// malformed frames, stop pinging, stop reading, drop the TCP connection.
// [NewDemo] returns a server that streams a few events to every client, for
// demonstrations.
//
// # Concurrency
//
// All methods of [Server] and [Conn] are safe for concurrent use. Each
// connection has one reading goroutine that parses the client's packets and
// runs [Options.Handler]; writes from any goroutine are serialised per
// connection, a packet and its binary attachments as one unit.
//
// # Goroutines
//
// Every goroutine the package starts belongs to the [Server] and ends when
// its connection ends or when [Server.Close] is called; Close waits for all
// of them.
//
// # Errors
//
// [Conn.Err] tells why a connection ended: one of the Err* sentinels of this
// package, possibly wrapped with detail, or the wrapped read error.
package sioserver

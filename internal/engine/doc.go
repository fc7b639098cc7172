// Package engine is the Engine.IO v4 layer of siostream: one connection to
// a server over the WebSocket transport. It dials, reads the server's open
// packet, answers pings, reads whole messages, and writes queued frames
// from a writer goroutine that exists only while there is something to
// write. It knows nothing of Socket.IO namespaces, packets or streams: it
// reports each message upward through a Handler and each written frame
// through the frame's Owner.
//
// # Goroutines
//
// A Conn has at most two goroutines: the caller of Serve, which reads, and
// the writer, started by Send (or by a ping to answer) when none runs and
// ended when the queue is empty. Close waits for the writer.
//
// # Transports
//
// Only WebSocket is implemented: dial.go (the upgrade), conn.go (reading
// frames into messages) and write.go (masked frames out). The Socket.IO
// layer above sees only Conn's methods, Handler and Owner, never a
// WebSocket: an HTTP long-polling transport would be a second way to make
// a Conn (its own dial, its own read loop feeding Handler.Message, its own
// writer calling Owner.Written), with the handshake, heartbeat and queue
// rules of this package, and nothing above would change.
package engine

package sioserver

import "errors"

var (
	// ErrServerClosed is returned by [Server.Accept] after [Server.Close],
	// and is the reason of connections ended by Close.
	ErrServerClosed = errors.New("sioserver: server closed")

	// ErrClosed is returned by write operations on a connection that ended.
	ErrClosed = errors.New("sioserver: connection closed")

	// ErrPingTimeout ends a connection whose client did not answer a ping
	// within PingTimeout.
	ErrPingTimeout = errors.New("sioserver: ping timeout")

	// ErrConnectTimeout ends a connection whose client did not connect to
	// any namespace within ConnectTimeout.
	ErrConnectTimeout = errors.New("sioserver: connect timeout")

	// ErrDropped ends a connection closed by [Conn.Drop].
	ErrDropped = errors.New("sioserver: connection dropped")

	// ErrClientClosed ends a connection that the client closed, with a
	// WebSocket close frame or an Engine.IO close packet.
	ErrClientClosed = errors.New("sioserver: closed by client")

	// ErrProtocol ends a connection whose client broke the WebSocket,
	// Engine.IO or Socket.IO protocol; it is wrapped with the detail.
	ErrProtocol = errors.New("sioserver: protocol error")

	// ErrTooLarge ends a connection whose client sent a message longer than
	// MaxPayload.
	ErrTooLarge = errors.New("sioserver: message too large")
)

package siostream

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configures a Stream. The zero value works: every field says what
// its zero means. Dial applies defaults to a copy; the caller's value is
// never changed.
type Options struct {
	// Namespace to join. Zero means the main namespace "/".
	Namespace string
	// Path of the Engine.IO endpoint. Zero means the URL's path when it has
	// one other than "/", else "/socket.io/".
	Path string

	// Auth returns the CONNECT payload (a JSON object). It is called before
	// every connect and reconnect, so it can hand out a fresh token each
	// time. Nil sends no auth. Its value is never logged.
	Auth func(ctx context.Context) (any, error)
	// Header returns extra HTTP headers for the WebSocket handshake
	// (cookies, bearer tokens). Called before every dial. Nil adds none.
	// Header values are never logged.
	Header func(ctx context.Context) (http.Header, error)
	// TLSConfig for wss:// and https:// URLs. Nil means the system roots
	// and full verification.
	TLSConfig *tls.Config
	// NetDial replaces the TCP dialer (proxies, tests). Nil means net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds each connect attempt: dial, handshake, and the
	// server's CONNECT reply. Zero means 20 s.
	ConnectTimeout time.Duration

	// NoReconnect turns automatic reconnection off: the stream ends at the
	// first lost connection.
	NoReconnect bool
	// ReconnectOnServerDisconnect makes the stream reconnect after the
	// server's DISCONNECT or a CONNECT_ERROR on reconnect, which otherwise
	// end it.
	ReconnectOnServerDisconnect bool
	// ReconnectDelay is the first backoff delay. Zero means 1 s.
	ReconnectDelay time.Duration
	// ReconnectDelayMax caps the backoff. Zero means 5 s.
	ReconnectDelayMax time.Duration
	// RandomizationFactor spreads each delay by ±factor. Zero means 0.5;
	// a negative value means no jitter.
	RandomizationFactor float64
	// MaxReconnectAttempts ends the stream after that many failed attempts
	// in a row. Zero means unlimited.
	MaxReconnectAttempts int

	// EventBuffer is how many events may wait in the Events channel. Zero
	// means 256.
	EventBuffer int
	// MaxBufferedBytes bounds the bytes of the events waiting in the
	// channel (one event is always admitted). Zero means 16 MiB.
	MaxBufferedBytes int
	// SlowConsumer is what happens when the buffer is full. The zero value
	// is BlockSlowConsumer.
	SlowConsumer SlowConsumerPolicy

	// ReadLimit is the largest message accepted from the server, checked
	// before anything is allocated for it. Zero means 16 MiB.
	ReadLimit int64
	// MaxAttachments is the most binary attachments one packet may declare.
	// Zero means 10, as the reference server.
	MaxAttachments int

	// EmitBufferCount and EmitBufferBytes bound the emits held while
	// disconnected. Zero means 1024 packets and 16 MiB. A negative
	// EmitBufferCount turns buffering off: Emit fails with ErrBufferFull
	// while disconnected.
	EmitBufferCount int
	EmitBufferBytes int
	// MaxPendingAcks bounds EmitWithAck calls waiting for the server.
	// Zero means 4096.
	MaxPendingAcks int

	// Retries turns on at-least-once emits: every Emit and EmitWithAck asks
	// the server for an ack, packets go out one at a time in call order,
	// and a packet not acknowledged within AckTimeout is sent again, up to
	// Retries more times; a lost connection does not use up a retry, the
	// packet is sent again after reconnection. Emit then returns once the
	// server has acknowledged. The server may see a packet more than once.
	// Zero means off.
	Retries int
	// AckTimeout is how long an at-least-once emit waits for its ack
	// before sending again. Zero means 10 s.
	AckTimeout time.Duration

	// Compression asks the server for permessage-deflate. Off by default;
	// the server may decline.
	Compression bool

	// Logger receives connection lifecycle records. Nil logs nothing.
	Logger *slog.Logger
}

// SlowConsumerPolicy says what the reader does when the consumer of Events
// falls behind and the buffer (EventBuffer, MaxBufferedBytes) is full.
type SlowConsumerPolicy uint8

const (
	// BlockSlowConsumer stops reading until the consumer makes room, so TCP
	// pushes back on the server. Nothing is lost. The heartbeat clock is
	// paused while the reader waits, so the stream never declares a false
	// ping timeout; a server that gives up on its unanswered pings closes
	// the connection and the stream reconnects.
	BlockSlowConsumer SlowConsumerPolicy = iota
	// DropNewest keeps reading (and answering pings) and drops server
	// events that find the buffer full. Each delivered event's Dropped
	// field counts the drops just before it; Stats.Dropped counts all.
	DropNewest
	// DisconnectSlowConsumer ends the stream with ErrSlowConsumer.
	DisconnectSlowConsumer
)

func (p SlowConsumerPolicy) String() string {
	switch p {
	case BlockSlowConsumer:
		return "block"
	case DropNewest:
		return "drop-newest"
	case DisconnectSlowConsumer:
		return "disconnect"
	}
	return "unknown"
}

func (o Options) withDefaults() Options {
	o.Namespace = normNamespace(o.Namespace)
	setDur(&o.ConnectTimeout, 20*time.Second)
	setDur(&o.ReconnectDelay, time.Second)
	setDur(&o.ReconnectDelayMax, 5*time.Second)
	if o.RandomizationFactor == 0 {
		o.RandomizationFactor = 0.5
	}
	setInt(&o.EventBuffer, 256)
	setInt(&o.MaxBufferedBytes, 16<<20)
	if o.ReadLimit <= 0 {
		o.ReadLimit = 16 << 20
	}
	setInt(&o.MaxAttachments, 10)
	setInt(&o.EmitBufferCount, 1024)
	setInt(&o.EmitBufferBytes, 16<<20)
	setInt(&o.MaxPendingAcks, 4096)
	setDur(&o.AckTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func normNamespace(ns string) string {
	if ns == "" {
		return "/"
	}
	if ns[0] != '/' {
		return "/" + ns
	}
	return ns
}

package siostream

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/siostream/siostream/frames"
	"github.com/siostream/siostream/internal/engine"
)

// Options configures a connection and the namespace streams on it. The
// zero value works: every field says what its zero means. Defaults are
// applied to a copy; the caller's value is never changed.
//
// Dial takes every field. A Manager splits them: NewManager takes the
// connection fields and Manager.Dial the namespace fields, and each
// rejects, with an error naming it, a field set where it has no effect.
type Options struct {
	// Connection fields.

	// Path of the Engine.IO endpoint. Zero means "/socket.io/".
	Path string
	// Header returns extra HTTP headers for the WebSocket handshake
	// (bearer tokens, a Host override). Called before every dial. Nil adds
	// none. Header values are never logged.
	Header func(ctx context.Context) (http.Header, error)
	// TLSConfig for wss:// and https:// URLs. Nil means the system roots
	// and full verification.
	TLSConfig *tls.Config
	// NetDial replaces the TCP dialer (to the proxy, when there is one).
	// Nil means net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Proxy chooses the proxy for the connection, as
	// http.Transport.Proxy does: it is given a GET request for the http
	// (ws) or https (wss) form of the endpoint and returns the proxy URL,
	// or nil for none. http://, https://, socks5:// and socks5h:// proxies
	// are understood; the URL's user info is sent as the credentials.
	// Nil means http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY,
	// NO_PROXY; never for loopback addresses). To use no proxy whatever
	// the environment says, return nil, nil.
	Proxy func(*http.Request) (*url.URL, error)
	// Jar, when set, stores the cookies the server sets in its handshake
	// response and sends them with every later handshake, so that sticky
	// sessions behind a load balancer keep working across reconnects. Nil
	// keeps no cookies.
	Jar http.CookieJar
	// ConnectTimeout bounds each connect attempt: dial, handshake, and the
	// server's CONNECT reply. Zero means 20 s.
	ConnectTimeout time.Duration
	// WriteTimeout bounds a write to the server that makes no progress;
	// when it expires the connection is taken for dead and the stream
	// reconnects. The server cannot raise it. Zero means 10 s.
	WriteTimeout time.Duration
	// NoReconnect turns automatic reconnection off: the streams end at the
	// first lost connection.
	NoReconnect bool
	// ReconnectDelay is the first backoff delay. Zero means 1 s.
	ReconnectDelay time.Duration
	// ReconnectDelayMax caps the backoff. Zero means 5 s.
	ReconnectDelayMax time.Duration
	// RandomizationFactor spreads each delay by ±factor. Zero means 0.5;
	// a negative value, or one above 1, means no spread (as the reference
	// client).
	RandomizationFactor float64
	// MaxReconnectAttempts ends the streams after that many failed
	// attempts in a row. Zero means unlimited.
	MaxReconnectAttempts int
	// ReadLimit is the largest message accepted from the server: a text
	// packet, or a binary packet with all its attachments. It is checked
	// before anything is allocated for it. Zero means the server's
	// maxPayload (from its handshake), and at least 1 MiB.
	ReadLimit int64
	// MaxAttachments is the most binary attachments one packet may declare.
	// Zero means 10, as the reference server.
	MaxAttachments int
	// Compression asks the server for permessage-deflate. Off by default;
	// the server may decline.
	Compression bool
	// Logger receives connection lifecycle records. Nil logs nothing.
	Logger *slog.Logger

	// Namespace fields.

	// Namespace to join. Zero means the main namespace "/".
	Namespace string
	// Auth returns the CONNECT payload (a JSON object). It is called before
	// every connect and reconnect, so it can hand out a fresh token each
	// time. Nil sends no auth. Its value is never logged.
	Auth func(ctx context.Context) (any, error)
	// ReconnectOnServerDisconnect makes the stream join again after the
	// server's DISCONNECT or a CONNECT_ERROR on reconnect, which otherwise
	// end it.
	ReconnectOnServerDisconnect bool
	// MaxBufferedBytes bounds the bytes held by the events waiting for the
	// consumer: in the Events channel, behind it, and held before the
	// CONNECT reply. An event counts everything it holds (name, arguments,
	// attachments, its own struct). While the budget holds, the reader
	// keeps reading and answering pings whatever the number of events;
	// beyond it SlowConsumer applies. Zero means 32 MiB.
	MaxBufferedBytes int
	// SlowConsumer is what happens beyond MaxBufferedBytes. The zero value
	// is BlockSlowConsumer.
	SlowConsumer SlowConsumerPolicy
	// VolatileEvents, with connection state recovery on, reports the
	// events the server emits volatile: they carry no recovery offset, so
	// their last argument is left in Args even when it is a string. Nil
	// takes a trailing string of every event without ack id for the
	// offset.
	VolatileEvents func(name string) bool
	// EmitBufferCount and EmitBufferBytes bound the packets emitted but not
	// yet written: EmitBufferBytes counts them whether connected or not,
	// EmitBufferCount only while disconnected. Zero means 1024 packets and
	// 16 MiB. A negative EmitBufferCount turns buffering while
	// disconnected off: Emit then fails with ErrBufferFull.
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
}

// SlowConsumerPolicy says what the reader does when the events waiting
// for the consumer hold MaxBufferedBytes.
type SlowConsumerPolicy uint8

const (
	// BlockSlowConsumer stops reading until the consumer makes room, so
	// that TCP pushes back on the server. Nothing is lost, but while the
	// reader waits nobody answers the server's pings: after its ping
	// timeout the server closes the connection and the stream reconnects
	// (the events it had not sent are lost unless it recovers sessions).
	// The client's own dead-server clock is paused while it waits.
	BlockSlowConsumer SlowConsumerPolicy = iota
	// DropNewest keeps reading and answering pings and drops the server
	// events that find the budget full. The next delivered event reports
	// the count in Event.Dropped; Stats.Dropped counts all.
	DropNewest
	// DisconnectSlowConsumer ends the stream with ErrSlowConsumer (other
	// namespaces of a Manager keep the connection).
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

// Defaults of the zero fields.
const (
	defaultConnectTimeout   = 20 * time.Second
	defaultWriteTimeout     = 10 * time.Second
	defaultReconnectDelay   = time.Second
	defaultReconnectMax     = 5 * time.Second
	defaultJitter           = 0.5
	defaultMaxAttachments   = frames.DefaultMaxAttachments
	defaultMaxBufferedBytes = 32 << 20
	defaultEmitBufferCount  = 1024
	defaultEmitBufferBytes  = 16 << 20
	defaultMaxPendingAcks   = 4096
	defaultAckTimeout       = 10 * time.Second
	// plannedReadLimit is the message size the Events channel is sized
	// for when ReadLimit is zero (see eventChanCap): the connection's
	// smallest read limit then.
	plannedReadLimit = engine.MinReadLimit
)

func (o Options) withDefaults() Options {
	o.Namespace = normNamespace(o.Namespace)
	setDur(&o.ConnectTimeout, defaultConnectTimeout)
	setDur(&o.WriteTimeout, defaultWriteTimeout)
	setDur(&o.ReconnectDelay, defaultReconnectDelay)
	setDur(&o.ReconnectDelayMax, defaultReconnectMax)
	if o.RandomizationFactor == 0 {
		o.RandomizationFactor = defaultJitter
	}
	if o.ReadLimit < 0 {
		o.ReadLimit = 0
	}
	setInt(&o.MaxAttachments, defaultMaxAttachments)
	setInt(&o.MaxBufferedBytes, defaultMaxBufferedBytes)
	setInt(&o.EmitBufferCount, defaultEmitBufferCount)
	setInt(&o.EmitBufferBytes, defaultEmitBufferBytes)
	setInt(&o.MaxPendingAcks, defaultMaxPendingAcks)
	setDur(&o.AckTimeout, defaultAckTimeout)
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

// connPart and streamPart split opts for a Manager.
func (o Options) connPart() Options {
	return Options{
		Path: o.Path, Header: o.Header, TLSConfig: o.TLSConfig, NetDial: o.NetDial, Proxy: o.Proxy, Jar: o.Jar,
		ConnectTimeout: o.ConnectTimeout, WriteTimeout: o.WriteTimeout, NoReconnect: o.NoReconnect,
		ReconnectDelay: o.ReconnectDelay, ReconnectDelayMax: o.ReconnectDelayMax,
		RandomizationFactor: o.RandomizationFactor, MaxReconnectAttempts: o.MaxReconnectAttempts,
		ReadLimit: o.ReadLimit, MaxAttachments: o.MaxAttachments, Compression: o.Compression, Logger: o.Logger,
	}
}

func (o Options) streamPart() Options {
	return Options{
		Namespace: o.Namespace, Auth: o.Auth, ReconnectOnServerDisconnect: o.ReconnectOnServerDisconnect,
		MaxBufferedBytes: o.MaxBufferedBytes, SlowConsumer: o.SlowConsumer, VolatileEvents: o.VolatileEvents,
		EmitBufferCount: o.EmitBufferCount, EmitBufferBytes: o.EmitBufferBytes, MaxPendingAcks: o.MaxPendingAcks,
		Retries: o.Retries, AckTimeout: o.AckTimeout,
	}
}

// setFields lists the fields of o that are not zero, by name.
func (o Options) setFields(conn bool) []string {
	var f []string
	add := func(name string, set bool) {
		if set {
			f = append(f, name)
		}
	}
	if conn {
		add("Path", o.Path != "")
		add("Header", o.Header != nil)
		add("TLSConfig", o.TLSConfig != nil)
		add("NetDial", o.NetDial != nil)
		add("Proxy", o.Proxy != nil)
		add("Jar", o.Jar != nil)
		add("ConnectTimeout", o.ConnectTimeout != 0)
		add("WriteTimeout", o.WriteTimeout != 0)
		add("NoReconnect", o.NoReconnect)
		add("ReconnectDelay", o.ReconnectDelay != 0)
		add("ReconnectDelayMax", o.ReconnectDelayMax != 0)
		add("RandomizationFactor", o.RandomizationFactor != 0)
		add("MaxReconnectAttempts", o.MaxReconnectAttempts != 0)
		add("ReadLimit", o.ReadLimit != 0)
		add("MaxAttachments", o.MaxAttachments != 0)
		add("Compression", o.Compression)
		add("Logger", o.Logger != nil)
		return f
	}
	add("Namespace", o.Namespace != "")
	add("Auth", o.Auth != nil)
	add("ReconnectOnServerDisconnect", o.ReconnectOnServerDisconnect)
	add("MaxBufferedBytes", o.MaxBufferedBytes != 0)
	add("SlowConsumer", o.SlowConsumer != 0)
	add("VolatileEvents", o.VolatileEvents != nil)
	add("EmitBufferCount", o.EmitBufferCount != 0)
	add("EmitBufferBytes", o.EmitBufferBytes != 0)
	add("MaxPendingAcks", o.MaxPendingAcks != 0)
	add("Retries", o.Retries != 0)
	add("AckTimeout", o.AckTimeout != 0)
	return f
}

func misplaced(where, fields, goes string) error {
	return fmt.Errorf("%w: %s: %s %s", ErrOptions, where, fields, goes)
}

// checkConn rejects namespace fields given to NewManager.
func (o Options) checkConn() error {
	if f := o.setFields(false); len(f) > 0 {
		return misplaced("NewManager", strings.Join(f, ", "), "apply to each namespace: give them to Manager.Dial")
	}
	return nil
}

// checkStream rejects connection fields given to Manager.Dial.
func (o Options) checkStream() error {
	if f := o.setFields(true); len(f) > 0 {
		return misplaced("Manager.Dial", strings.Join(f, ", "), "apply to the whole connection: give them to NewManager")
	}
	return nil
}

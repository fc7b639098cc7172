// Package frames encodes and decodes the wire format of Socket.IO v5 over
// Engine.IO v4 on a WebSocket.
//
// There are two layers. Each text WebSocket frame is one Engine.IO packet:
// a type digit ('0' open … '6' noop, see EngineType) followed by its
// payload (ParseEngine, AppendEngine). An Engine.IO message ('4') carries
// one Socket.IO packet, "<type>[<attachments>-][<nsp>,][<ackId>][<JSON>]"
// (ParsePacket, AppendHeader, AppendEvent, AppendAck, AppendConnect). A
// binary WebSocket frame is an Engine.IO message of raw bytes: the caller
// handles it as the next attachment of a BINARY_EVENT or BINARY_ACK, whose
// JSON refers to attachments by placeholders (ExtractBinary,
// CheckPlaceholders, ResolveBinary, ResolveValue).
//
// # Buffers
//
// Decoders return views into their input rather than copies: a Packet's
// Namespace and Data, the payload from ParseEngine and the slices from
// SplitEvent, NextValue and SplitLast stay valid until the caller reuses
// the buffer they were decoded from. Encoders append to a buffer the caller owns, like
// strconv.AppendInt, and neither the packet decoders nor the encoders
// allocate when that buffer has room. ParseOpen, ParseConnectReply and
// ParseConnectError, used once per connection, return strings and may
// allocate.
//
// # Limits
//
// JSON is validated by an iterative scanner that never recurses, so hostile
// nesting cannot exhaust the stack, and nothing else that walks a peer's
// data recurses either; Limits bounds the nesting depth (default 128, at
// most 10000) and the attachments one packet may declare (default 10, as
// the reference server).
//
// Each attachment may be referenced once: ResolveBinary and ResolveValue
// reject a second placeholder for one, so resolving never multiplies an
// attachment, and CheckPlaceholders checks, as soon as the text frame
// arrives, that a packet references each attachment it declares exactly
// once.
//
// Numbers from the peer are checked for sign and range before they are
// used, digit by digit so that none can wrap: attachment counts against
// Limits, ack ids against a uint64, and the open packet's pingInterval and
// pingTimeout against 24 hours, so that Open.Deadline cannot overflow.
//
// # Errors
//
// Decoders return a *SyntaxError giving the offset and a short excerpt of
// the input, wrapping one of the Err sentinels; test for them with
// errors.Is. Where the sentinel alone is vague, as for a bad placeholder or
// open packet, its Detail says what is wrong ("attachment 0 referenced
// twice", "pingInterval is above 24 hours"). The functions are safe for
// concurrent use on distinct buffers.
package frames

package frames

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Decoders of bytes return them wrapped in a *SyntaxError,
// so test for them with errors.Is; ExtractBinary and ResolveValue, which
// walk Go values, return them bare or wrapped with a detail.
var (
	// ErrEmpty reports an empty frame or packet.
	ErrEmpty = errors.New("frames: empty packet")
	// ErrUnknownType reports a type byte that names no Engine.IO or
	// Socket.IO packet type.
	ErrUnknownType = errors.New("frames: unknown packet type")
	// ErrBadNamespace reports a malformed namespace.
	ErrBadNamespace = errors.New("frames: bad namespace")
	// ErrBadAckID reports an ack id on a packet type that cannot carry one.
	ErrBadAckID = errors.New("frames: bad ack id")
	// ErrAckIDOverflow reports an ack id that does not fit in a uint64.
	ErrAckIDOverflow = errors.New("frames: ack id overflows uint64")
	// ErrBadAttachments reports a missing, malformed or misplaced
	// attachment count.
	ErrBadAttachments = errors.New("frames: bad attachment count")
	// ErrTooManyAttachments reports an attachment count above the limit.
	ErrTooManyAttachments = errors.New("frames: too many attachments")
	// ErrInvalidJSON reports malformed JSON.
	ErrInvalidJSON = errors.New("frames: invalid JSON")
	// ErrTooDeep reports JSON (or a Go value) nested beyond the depth limit.
	ErrTooDeep = errors.New("frames: nested too deeply")
	// ErrBadPayload reports a payload of the wrong shape for its packet type.
	ErrBadPayload = errors.New("frames: bad payload for packet type")
	// ErrBadPlaceholder reports a binary placeholder whose num is missing,
	// not an integer or out of range of the attachments, or that refers to
	// an attachment already referred to.
	ErrBadPlaceholder = errors.New("frames: bad binary placeholder")
	// ErrBadOpen reports an Engine.IO open packet that lacks a required
	// field or has one of the wrong type or range.
	ErrBadOpen = errors.New("frames: bad open packet")
)

// nearLen is the most input a SyntaxError quotes.
const nearLen = 16

// SyntaxError locates a decoding error in the input. Err is one of the
// package's sentinel errors.
type SyntaxError struct {
	Err    error  // the sentinel describing what is wrong
	Offset int    // byte offset into the input given to the decoder
	Near   string // at most 16 bytes of input around Offset
	Detail string // the particular problem in words, such as "attachment 0 referenced twice"; may be empty
}

// Error returns "frames: <what>[: <detail>] at offset N near <quoted
// input>".
func (e *SyntaxError) Error() string {
	what := "syntax error"
	if e.Err != nil {
		what = strings.TrimPrefix(e.Err.Error(), "frames: ")
	}
	if e.Detail != "" {
		what += ": " + e.Detail
	}
	return fmt.Sprintf("frames: %s at offset %d near %q", what, e.Offset, e.Near)
}

// Unwrap returns the sentinel error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// syntaxError builds the error returned by decoders. It is only called on
// failure, so successful decoding never allocates.
func syntaxError(sentinel error, in []byte, off int) error {
	off = min(max(off, 0), len(in))
	start := max(off-nearLen/2, 0)
	end := min(start+nearLen, len(in))
	return &SyntaxError{Err: sentinel, Offset: off, Near: string(in[start:end])}
}

// detailError is syntaxError with the problem described in words.
func detailError(sentinel error, detail string, in []byte, off int) error {
	err := syntaxError(sentinel, in, off).(*SyntaxError)
	err.Detail = detail
	return err
}

// maxQuoted is the most of a peer's number a Detail repeats.
const maxQuoted = 24

// shortNumber returns the raw JSON number v (ASCII) for a Detail,
// shortened to maxQuoted bytes.
func shortNumber(v []byte) string {
	if len(v) > maxQuoted {
		return string(v[:maxQuoted]) + "..."
	}
	return string(v)
}

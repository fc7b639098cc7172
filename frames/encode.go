package frames

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Header describes the prefix of a Socket.IO packet to encode.
type Header struct {
	Type        PacketType
	Attachments int    // written as "N-" for binary types
	Namespace   string // written (followed by ',') unless "" or "/"
	ID          uint64
	HasID       bool
}

// AppendHeader appends "<type>[<n>-][<nsp>,][<id>]" to dst.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, '0'+byte(h.Type))
	if h.Type.binary() {
		dst = strconv.AppendInt(dst, int64(h.Attachments), 10)
		dst = append(dst, '-')
	}
	dst = appendNamespace(dst, h.Namespace)
	if h.HasID {
		dst = strconv.AppendUint(dst, h.ID, 10)
	}
	return dst
}

// appendNamespace appends "nsp," unless ns is the main namespace.
func appendNamespace(dst []byte, ns string) []byte {
	if ns == "" || ns == "/" {
		return dst
	}
	dst = append(dst, ns...)
	return append(dst, ',')
}

// AppendEvent appends a whole EVENT or BINARY_EVENT packet to dst: the
// header, then ["name",args...]. The name is escaped like encoding/json
// does; each arg is already-encoded JSON copied verbatim (an empty one is
// written as null). It does not allocate when dst has room.
func AppendEvent(dst []byte, h Header, name string, args ...json.RawMessage) []byte {
	dst = AppendHeader(dst, h)
	dst = append(dst, '[')
	dst = AppendString(dst, name)
	for _, a := range args {
		dst = appendRaw(append(dst, ','), a)
	}
	return append(dst, ']')
}

// AppendAck appends a whole ACK or BINARY_ACK packet to dst: the header,
// then [args...], with args copied as by AppendEvent.
func AppendAck(dst []byte, h Header, args ...json.RawMessage) []byte {
	dst = AppendHeader(dst, h)
	dst = append(dst, '[')
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRaw(dst, a)
	}
	return append(dst, ']')
}

// appendRaw appends encoded JSON, or null when it is empty.
func appendRaw(dst []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}

// AppendConnect appends a CONNECT packet for namespace ns with the optional
// auth object (nil means no payload) to dst: "0[/nsp,][auth]". The
// Engine.IO '4' is not included.
func AppendConnect(dst []byte, ns string, auth json.RawMessage) []byte {
	dst = append(dst, '0'+byte(Connect))
	dst = appendNamespace(dst, ns)
	return append(dst, auth...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a quoted JSON string, escaped exactly as
// encoding/json escapes it: <, > and & and U+2028, U+2029 as \uXXXX, and
// invalid UTF-8 as \ufffd.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipSafe8(s, i); i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if !htmlSafe(c) {
				dst = appendEscapedByte(append(dst, s[start:i]...), c)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if esc := runeEscape(r, size); esc != "" {
			dst = append(append(dst, s[start:i]...), esc...)
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// skipSafe8 skips whole 8-byte words of s that need no escaping (ASCII,
// no control byte, quote, backslash, <, > or &).
func skipSafe8(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if (w|below(w, 0x20)|zeroByte(w^'"'*ones)|zeroByte(w^'\\'*ones)|
			zeroByte(w^'<'*ones)|zeroByte(w^'>'*ones)|zeroByte(w^'&'*ones))&highs != 0 {
			break
		}
	}
	return i
}

// htmlSafe reports whether the ASCII byte c needs no escaping.
func htmlSafe(c byte) bool {
	return c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendEscapedByte appends the escape of an ASCII byte that is not
// htmlSafe.
func appendEscapedByte(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// runeEscape returns the escape for a multi-byte sequence that needs one.
func runeEscape(r rune, size int) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return `\ufffd`
	case r == '\u2028':
		return `\u2028`
	case r == '\u2029':
		return `\u2029`
	}
	return ""
}

package frames

import (
	"bytes"
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepthCap is the deepest nesting any limit can allow. It equals the
// limit of encoding/json.
const maxDepthCap = 10000

// containers records, for each open JSON container, whether it is an
// object. Its bits live on the caller's stack, so scanning never allocates
// and never recurses.
type containers struct {
	n    int
	max  int
	bits []uint64
}

// smallDepth is the nesting the first, cheap scanning attempt can track.
const smallDepth = 256

// errDeeper tells scanNested that its small set of containers is full. It
// never leaves the package.
var errDeeper = errors.New("frames: deeper than the small container set")

// push opens a container; it reports false when the depth limit is reached.
func (s *containers) push(object bool) bool {
	if s.n >= s.max {
		return false
	}
	w, b := s.n/64, uint(s.n%64)
	s.bits[w] &^= 1 << b
	if object {
		s.bits[w] |= 1 << b
	}
	s.n++
	return true
}

// inObject reports whether the innermost open container is an object.
func (s *containers) inObject() bool {
	k := s.n - 1
	return s.bits[k/64]&(1<<uint(k%64)) != 0
}

// clampDepth maps a configured depth limit to the one in force.
func clampDepth(d int) int {
	if d <= 0 {
		return DefaultMaxDepth
	}
	return min(d, maxDepthCap)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(buf []byte, i int) int {
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	return i
}

// trimSpace returns b without leading and trailing JSON whitespace.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// validValue checks that buf[i:] holds exactly one JSON value, surrounded
// by optional whitespace, nested at most maxDepth deep. It returns the
// bounds of the value.
func validValue(buf []byte, i, maxDepth int) (start, end int, err error) {
	start = skipSpace(buf, i)
	end, err = scanValue(buf, start, maxDepth)
	if err != nil {
		return start, end, err
	}
	if j := skipSpace(buf, end); j != len(buf) {
		return start, end, syntaxError(ErrInvalidJSON, buf, j)
	}
	return start, end, nil
}

// scanValue scans the JSON value starting exactly at buf[i] and returns the
// index just past it.
func scanValue(buf []byte, i, maxDepth int) (int, error) {
	if i < len(buf) && buf[i] == '[' && maxDepth > 0 {
		if end, ok := scanFlat(buf, i); ok {
			return end, nil
		}
	}
	if i < len(buf) && (buf[i] == '{' || buf[i] == '[') {
		return scanNested(buf, i, maxDepth)
	}
	end, _, err := scanOne(buf, i, nil)
	return end, err
}

// scanFlat scans an array of scalars (strings, numbers, literals), the
// common shape of an event, without the machinery for nesting. It reports
// false for anything else, nested or malformed alike, and the general
// scanner starts over (and words any error).
func scanFlat(buf []byte, i int) (int, bool) {
	j := skipSpace(buf, i+1)
	if j < len(buf) && buf[j] == ']' {
		return j + 1, true
	}
	for j < len(buf) {
		var err error
		switch buf[j] {
		case '{', '[':
			return j, false
		case '"':
			j, err = scanString(buf, j)
		case 't':
			j, _, err = scanLiteral(buf, j, "true")
		case 'f':
			j, _, err = scanLiteral(buf, j, "false")
		case 'n':
			j, _, err = scanLiteral(buf, j, "null")
		default:
			j, err = scanNumber(buf, j)
		}
		if err != nil {
			return j, false
		}
		if j = skipSpace(buf, j); j >= len(buf) {
			return j, false
		}
		switch buf[j] {
		case ']':
			return j + 1, true
		case ',':
			j = skipSpace(buf, j+1)
		default:
			return j, false
		}
	}
	return j, false
}

// scanNested scans an array or object. It is iterative: nesting costs one
// bit of a stack-allocated set, not a stack frame. Most values fit a small
// set; only deeper ones are scanned again with the largest set.
func scanNested(buf []byte, i, maxDepth int) (int, error) {
	var bits [smallDepth / 64]uint64
	end, err := scanLoop(buf, i, &containers{max: min(maxDepth, smallDepth), bits: bits[:]})
	switch {
	case err != errDeeper:
		return end, err
	case maxDepth <= smallDepth:
		return end, syntaxError(ErrTooDeep, buf, end)
	}
	return scanDeep(buf, i, maxDepth)
}

// scanDeep scans a value nested more than smallDepth deep.
func scanDeep(buf []byte, i, maxDepth int) (int, error) {
	var bits [maxDepthCap/64 + 1]uint64
	end, err := scanLoop(buf, i, &containers{max: maxDepth, bits: bits[:]})
	if err == errDeeper {
		err = syntaxError(ErrTooDeep, buf, end)
	}
	return end, err
}

// scanLoop scans values until the outermost container closes.
func scanLoop(buf []byte, i int, st *containers) (int, error) {
	for {
		end, opened, err := scanOne(buf, skipSpace(buf, i), st)
		if err != nil {
			return end, err
		}
		if !opened {
			if end, err = scanAfter(buf, end, st); err != nil || st.n == 0 {
				return end, err
			}
		}
		i = end
	}
}

// scanOne scans the value starting at buf[i]. For a non-empty container it
// only consumes the opening bracket (and the first key) and reports opened.
func scanOne(buf []byte, i int, st *containers) (int, bool, error) {
	if i >= len(buf) {
		return i, false, syntaxError(ErrInvalidJSON, buf, i)
	}
	switch c := buf[i]; c {
	case '{', '[':
		return scanOpen(buf, i, st)
	case '"':
		end, err := scanString(buf, i)
		return end, false, err
	case 't':
		return scanLiteral(buf, i, "true")
	case 'f':
		return scanLiteral(buf, i, "false")
	case 'n':
		return scanLiteral(buf, i, "null")
	}
	end, err := scanNumber(buf, i)
	return end, false, err
}

// scanOpen handles '{' or '[' at buf[i].
func scanOpen(buf []byte, i int, st *containers) (int, bool, error) {
	object := buf[i] == '{'
	if !st.push(object) {
		return i, false, errDeeper
	}
	closer := byte(']')
	if object {
		closer = '}'
	}
	j := skipSpace(buf, i+1)
	if j < len(buf) && buf[j] == closer {
		st.n--
		return j + 1, false, nil
	}
	if object {
		j, err := scanKey(buf, j)
		return j, true, err
	}
	return j, true, nil
}

// scanAfter consumes what follows a complete value: closing brackets until
// a ',' asks for another value or the outermost container is closed.
func scanAfter(buf []byte, i int, st *containers) (int, error) {
	for st.n > 0 {
		i = skipSpace(buf, i)
		if i >= len(buf) {
			return i, syntaxError(ErrInvalidJSON, buf, i)
		}
		c, object := buf[i], st.inObject()
		switch {
		case c == ',' && object:
			return scanKey(buf, skipSpace(buf, i+1))
		case c == ',':
			return i + 1, nil
		case c == '}' && object, c == ']' && !object:
			st.n--
			i++
		default:
			return i, syntaxError(ErrInvalidJSON, buf, i)
		}
	}
	return i, nil
}

// scanKey scans an object key and the colon after it.
func scanKey(buf []byte, i int) (int, error) {
	i, err := scanString(buf, i)
	if err != nil {
		return i, err
	}
	i = skipSpace(buf, i)
	if i >= len(buf) || buf[i] != ':' {
		return i, syntaxError(ErrInvalidJSON, buf, i)
	}
	return i + 1, nil
}

// scanString scans the string starting at buf[i] == '"' and returns the
// index just past its closing quote. Like encoding/json it accepts any
// byte from 0x20 up, including invalid UTF-8.
func scanString(buf []byte, i int) (int, error) {
	if i >= len(buf) || buf[i] != '"' {
		return i, syntaxError(ErrInvalidJSON, buf, i)
	}
	quote := -1 // the next '"' at or after j, once skipLong looked for it
	for j := i + 1; j < len(buf); {
		if start := j; len(buf)-j <= 128 {
			j = skipPlain8(buf, j)
		} else if j = skipPlain8(buf[:j+64], j); j == start+64 {
			// 64 plain bytes: a long run, where the vectorised scan pays.
			j = skipPlain8(buf, skipLong(buf, j, &quote))
		}
		for j < len(buf) && plainStringByte[buf[j]] {
			j++
		}
		switch {
		case j >= len(buf):
		case buf[j] == '"':
			return j + 1, nil
		case buf[j] == '\\':
			n := escapeLen(buf[j:])
			if n == 0 {
				return j, syntaxError(ErrInvalidJSON, buf, j)
			}
			j += n
		default:
			return j, syntaxError(ErrInvalidJSON, buf, j)
		}
	}
	return len(buf), syntaxError(ErrInvalidJSON, buf, len(buf))
}

// skipLong skips the plain bytes of a long string from j with the
// vectorised bytes.IndexByte: up to the next quote or backslash, if no
// control byte comes first; else it returns j, for the word-at-a-time
// scan to take over. *quote keeps the next quote's index between calls,
// so that a string with many escapes is searched for its quote once, not
// once per escape.
func skipLong(buf []byte, j int, quote *int) int {
	if *quote < j {
		*quote = len(buf)
		if q := bytes.IndexByte(buf[j:], '"'); q >= 0 {
			*quote = j + q
		}
	}
	seg := buf[j:*quote]
	if k := bytes.IndexByte(seg, '\\'); k >= 0 {
		seg = seg[:k]
	}
	if hasControl(seg) {
		return j
	}
	return j + len(seg)
}

// hasControl reports whether b holds a byte below 0x20, four words at a
// time.
func hasControl(b []byte) bool {
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w0 := binary.LittleEndian.Uint64(b[i:])
		w1 := binary.LittleEndian.Uint64(b[i+8:])
		w2 := binary.LittleEndian.Uint64(b[i+16:])
		w3 := binary.LittleEndian.Uint64(b[i+24:])
		if (below(w0, 0x20)|below(w1, 0x20)|below(w2, 0x20)|below(w3, 0x20))&highs != 0 {
			return true
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if below(binary.LittleEndian.Uint64(b[i:]), 0x20)&highs != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return true
		}
	}
	return false
}

// skipPlain8 skips whole 8-byte words holding no quote, backslash or
// control byte: string bodies are scanned a word at a time, not a byte.
func skipPlain8(buf []byte, j int) int {
	for ; j+8 <= len(buf); j += 8 {
		w := binary.LittleEndian.Uint64(buf[j:])
		if (below(w, 0x20)|zeroByte(w^'"'*ones)|zeroByte(w^'\\'*ones))&highs != 0 {
			break
		}
	}
	return j
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// zeroByte sets the high bit of the lowest zero byte of w (higher ones
// may be flagged falsely, which only ends the fast path early).
func zeroByte(w uint64) uint64 { return (w - ones) &^ w }

// below flags a byte of w below n (n <= 0x80).
func below(w, n uint64) uint64 { return (w - n*ones) &^ w }

// plainStringByte marks the bytes that stand for themselves in a JSON
// string.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escapeLen returns the length of the valid escape sequence at the start of
// b (b[0] == '\\'), or 0 when it is invalid.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) >= 6 && hex4(b[2:6]) >= 0 {
			return 6
		}
	}
	return 0
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// scanLiteral scans one of true, false and null.
func scanLiteral(buf []byte, i int, lit string) (int, bool, error) {
	if len(buf)-i < len(lit) || string(buf[i:i+len(lit)]) != lit {
		return i, false, syntaxError(ErrInvalidJSON, buf, i)
	}
	return i + len(lit), false, nil
}

// scanNumber scans a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(buf []byte, i int) (int, error) {
	j := i
	if j < len(buf) && buf[j] == '-' {
		j++
	}
	switch {
	case j < len(buf) && buf[j] == '0':
		j++
	case j < len(buf) && isDigit(buf[j]):
		j = skipDigits(buf, j)
	default:
		return j, syntaxError(ErrInvalidJSON, buf, j)
	}
	if j < len(buf) && buf[j] == '.' {
		if j = skipDigits(buf, j+1); !isDigit(buf[j-1]) {
			return j, syntaxError(ErrInvalidJSON, buf, j)
		}
	}
	if j < len(buf) && (buf[j] == 'e' || buf[j] == 'E') {
		j++
		if j < len(buf) && (buf[j] == '+' || buf[j] == '-') {
			j++
		}
		if k := skipDigits(buf, j); k > j {
			return k, nil
		}
		return j, syntaxError(ErrInvalidJSON, buf, j)
	}
	return j, nil
}

func skipDigits(buf []byte, i int) int {
	for i < len(buf) && isDigit(buf[i]) {
		i++
	}
	return i
}

// skipString returns the index past the closing quote of the already
// validated string starting at buf[i].
func skipString(buf []byte, i int) int {
	for j := i + 1; j < len(buf); j++ {
		switch buf[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(buf)
}

// members iterates over the members of a validated JSON object.
type members struct {
	buf   []byte
	pos   int // where the next ',' or '}' is expected
	count int
	valAt int // offset of the value last positioned at by key
}

// objectMembers validates data as one JSON value and, when it is an
// object, returns an iterator over its members. Any other value is
// ErrBadPayload.
func objectMembers(data []byte) (members, error) {
	s, _, err := validValue(data, 0, maxDepthCap)
	if err != nil {
		return members{}, err
	}
	if data[s] != '{' {
		return members{}, syntaxError(ErrBadPayload, data, s)
	}
	return members{buf: data, pos: s + 1}, nil
}

// key reads the next key (its raw body, without quotes) and positions the
// iterator at the member's value. ok is false after the last member.
func (m *members) key() (key []byte, ok bool, err error) {
	i := skipSpace(m.buf, m.pos)
	if i < len(m.buf) && m.buf[i] == '}' {
		m.pos = i + 1
		return nil, false, nil
	}
	if m.count > 0 {
		if i >= len(m.buf) || m.buf[i] != ',' {
			return nil, false, syntaxError(ErrInvalidJSON, m.buf, i)
		}
		i = skipSpace(m.buf, i+1)
	}
	ke, err := scanString(m.buf, i)
	if err != nil {
		return nil, false, err
	}
	j := skipSpace(m.buf, ke)
	if j >= len(m.buf) || m.buf[j] != ':' {
		return nil, false, syntaxError(ErrInvalidJSON, m.buf, j)
	}
	m.count++
	m.valAt = skipSpace(m.buf, j+1)
	m.pos = m.valAt
	return m.buf[i+1 : ke-1], true, nil
}

// value scans the value the iterator is positioned at.
func (m *members) value() ([]byte, error) {
	end, err := scanValue(m.buf, m.valAt, maxDepthCap)
	if err != nil {
		return nil, err
	}
	m.pos = end
	return m.buf[m.valAt:end], nil
}

// eachMember validates data as one JSON object and calls fn for each of
// its members with the raw key body, the value and the value's offset.
func eachMember(data []byte, fn func(key, val []byte, at int) error) error {
	m, err := objectMembers(data)
	if err != nil {
		return err
	}
	for {
		key, ok, err := m.key()
		if err != nil || !ok {
			return err
		}
		val, err := m.value()
		if err != nil {
			return err
		}
		if err := fn(key, val, m.valAt); err != nil {
			return err
		}
	}
}

// elements iterates over the elements of a validated JSON array.
type elements struct {
	buf   []byte
	pos   int
	count int
	at    int // offset of the element last returned
}

// next returns the next element; ok is false after the last one.
func (e *elements) next() (val []byte, ok bool, err error) {
	i := skipSpace(e.buf, e.pos)
	if i < len(e.buf) && e.buf[i] == ']' {
		e.pos = i + 1
		return nil, false, nil
	}
	if e.count > 0 {
		if i >= len(e.buf) || e.buf[i] != ',' {
			return nil, false, syntaxError(ErrInvalidJSON, e.buf, i)
		}
		i = skipSpace(e.buf, i+1)
	}
	end, err := scanValue(e.buf, i, maxDepthCap)
	if err != nil {
		return nil, false, err
	}
	e.count++
	e.at, e.pos = i, end
	return e.buf[i:end], true, nil
}

// rawEquals reports whether the raw (still escaped) string body raw
// decodes, as AppendUnquote decodes it, to want, which must be valid
// UTF-8 without U+FFFD (so that invalid UTF-8 in raw, which decodes to
// U+FFFD, cannot match). It compares rune by rune and never allocates,
// whatever raw holds.
func rawEquals(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	j := 0
	for i := 0; i < len(raw); {
		r, n := rune(raw[i]), 1
		switch {
		case raw[i] == '\\':
			if escapeLen(raw[i:]) == 0 {
				return false
			}
			r, n = decodeEscape(raw[i:])
		case raw[i] >= utf8.RuneSelf:
			r, n = utf8.DecodeRune(raw[i:])
		}
		w, size := utf8.DecodeRuneInString(want[j:])
		if size == 0 || r != w {
			return false
		}
		i, j = i+n, j+size
	}
	return j == len(want)
}

// rawString decodes a validated JSON string value (with its quotes).
func rawString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	body := val[1 : len(val)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	dec, err := AppendUnquote(nil, body)
	return string(dec), err == nil
}

// AppendUnquote appends the decoded contents of the JSON string body raw
// (the bytes between the quotes, as returned by SplitEvent) to dst. It
// decodes every JSON escape, including \uXXXX and surrogate pairs. Like
// encoding/json, it turns lone surrogates and invalid UTF-8 into U+FFFD,
// so the result is always valid UTF-8. An invalid escape is an error
// wrapping ErrInvalidJSON. Raw bodies without backslashes that are valid
// UTF-8 are appended as they are.
func AppendUnquote(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return append(dst, raw...), nil
	}
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '\\':
			n := escapeLen(raw[i:])
			if n == 0 {
				return dst, syntaxError(ErrInvalidJSON, raw, i)
			}
			var r rune
			r, n = decodeEscape(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst, nil
}

// decodeEscape decodes the valid escape at the start of b and returns the
// rune and how many bytes it used (a surrogate pair uses two escapes).
func decodeEscape(b []byte) (rune, int) {
	switch b[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		return decodeU(b)
	}
	return rune(b[1]), 2
}

// decodeU decodes \uXXXX, joining a following low surrogate escape.
func decodeU(b []byte) (rune, int) {
	r := hex4(b[2:6])
	if !utf16.IsSurrogate(r) {
		return r, 6
	}
	if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
		if r2 := hex4(b[8:12]); r2 >= 0 {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				return dec, 12
			}
		}
	}
	return utf8.RuneError, 6
}

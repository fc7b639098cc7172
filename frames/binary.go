package frames

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// Placeholder stands in the JSON of a BINARY_EVENT or BINARY_ACK for the
// attachment number Num. It always encodes as
// {"_placeholder":true,"num":N}.
type Placeholder struct {
	Placeholder bool `json:"_placeholder"` // always true when encoded
	Num         int  `json:"num"`
}

// MarshalJSON encodes p as {"_placeholder":true,"num":N}.
func (p Placeholder) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 32)), nil
}

func (p Placeholder) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(p.Num), 10)
	return append(dst, '}')
}

// ResolveBinary appends to dst a copy of the JSON value data in which every
// placeholder object is replaced by the attachment it names, written as a
// base64 (standard, padded) JSON string so that json.Unmarshal into a
// []byte yields the bytes. An attachment may be named once: a second
// placeholder for it is ErrBadPlaceholder, so what is appended is never
// longer than data plus the base64 of each attachment once. It does not
// allocate when dst has room and atts has at most 64 elements.
//
// A placeholder is an object with a member "_placeholder": true (keys in
// any order; the last of duplicate keys wins) and no array or object
// members. Its "num" must be an integer indexing atts, written with
// digits only (no sign, fraction or exponent); otherwise the error wraps
// ErrBadPlaceholder and its Detail says what is wrong. Malformed JSON is
// ErrInvalidJSON. On error dst is returned unchanged.
func ResolveBinary(dst, data []byte, atts [][]byte) ([]byte, error) {
	if _, _, err := validValue(data, 0, maxDepthCap); err != nil {
		return dst, err
	}
	s := newPlaceholderScan(data, len(atts))
	mark, copied := len(dst), 0
	for {
		start, end, num, err := s.next()
		if err != nil {
			return dst[:mark], err
		}
		if start < 0 {
			return append(dst, data[copied:]...), nil
		}
		dst = appendBase64(append(dst, data[copied:start]...), atts[num])
		copied = end
	}
}

// minPlaceholderLen is the length of the shortest placeholder.
const minPlaceholderLen = len(`{"_placeholder":true,"num":0}`)

// smallAttachments is the most attachments CheckPlaceholders and
// ResolveBinary track without allocating.
const smallAttachments = 64

// CheckPlaceholders checks that the JSON value data, the arguments of a
// BINARY_EVENT or BINARY_ACK declaring n attachments, refers to them as
// the reference encoder does: every placeholder (an object recognised
// as ResolveBinary documents) names an attachment index in [0,n), and
// each index from 0 to n-1 is named exactly once. Otherwise the error
// wraps ErrBadPlaceholder and its Detail says what is wrong, for example
// "attachment 0 referenced twice", "attachment 2 never referenced" or
// "attachment 5 out of range [0,2)". Malformed JSON is ErrInvalidJSON or
// ErrTooDeep, and a negative n is ErrBadAttachments.
//
// When it accepts data, ResolveBinary with n attachments succeeds and
// appends at most len(data) plus the base64 of each attachment once.
//
// It never recurses and does not allocate when n is at most 64. Above
// that it allocates n bits, so n must come from a count already checked
// against a limit, as ParsePacket checks a packet's count against
// Limits.MaxAttachments. Even so, an n above 64 that data has no room
// for (one placeholder takes at least 29 bytes) is rejected before
// anything is allocated.
func CheckPlaceholders(data []byte, n int) error {
	if _, _, err := validValue(data, 0, maxDepthCap); err != nil {
		return err
	}
	if n < 0 || (n > smallAttachments && n > len(data)/minPlaceholderLen) {
		return countError(data, n)
	}
	s := newPlaceholderScan(data, n)
	for {
		start, _, _, err := s.next()
		if err != nil {
			return err
		}
		if start < 0 {
			break
		}
	}
	for k := range n {
		if !s.seen.has(k) {
			detail := "attachment " + strconv.Itoa(k) + " never referenced"
			return detailError(ErrBadPlaceholder, detail, data, 0)
		}
	}
	return nil
}

// countError reports an attachment count that is negative or larger than
// data has room to reference.
func countError(data []byte, n int) error {
	if n < 0 {
		return detailError(ErrBadAttachments, "negative attachment count "+strconv.Itoa(n), data, 0)
	}
	room := len(data) / minPlaceholderLen
	detail := strconv.Itoa(n) + " attachments but room for " + strconv.Itoa(room) + " placeholders"
	return detailError(ErrBadPlaceholder, detail, data, 0)
}

// appendBase64 appends b as a quoted base64 JSON string.
func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// placeholderScan finds, in order, the placeholders of a validated JSON
// value and the attachments they reference, refusing a second reference
// to one attachment. It never recurses: it walks the bytes once, skipping
// strings, and examines each object it meets.
type placeholderScan struct {
	data []byte
	n    int // attachments
	i    int // where to look next
	seen attachmentSet
}

// newPlaceholderScan returns a scan of data for references to n
// attachments. It allocates n bits when n is above 64.
func newPlaceholderScan(data []byte, n int) placeholderScan {
	return placeholderScan{data: data, n: n, seen: newAttachmentSet(n)}
}

// next returns the bounds of the next placeholder and the attachment it
// references; start is -1 after the last one.
func (s *placeholderScan) next() (start, end, num int, err error) {
	data := s.data
	for i := s.i; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = skipString(data, i) - 1
		case '{':
			if end, raw := placeholderAt(data, i); end > 0 {
				s.i = end
				num, err = s.reference(raw, i)
				return i, end, num, err
			}
		}
	}
	s.i = len(data)
	return -1, 0, 0, nil
}

// reference checks the raw "num" of the placeholder at data[at].
func (s *placeholderScan) reference(raw []byte, at int) (int, error) {
	num, problem := attachmentIndex(raw, s.n)
	if problem == placeholderOK && !s.seen.add(num) {
		return 0, detailError(ErrBadPlaceholder, twiceDetail(num), s.data, at)
	}
	if problem != placeholderOK {
		return 0, placeholderError(problem, raw, s.n, s.data, at)
	}
	return num, nil
}

// placeholderAt examines the validated object at data[i]. When it is a
// placeholder it returns the index past it and the raw value of its last
// "num" member (nil when there is none); otherwise end is 0. Members are
// scanned only up to the first array or object value, so a scan stays
// linear.
func placeholderAt(data []byte, i int) (end int, num []byte) {
	m := members{buf: data, pos: i + 1}
	isPlaceholder := false
	for {
		key, ok, _ := m.key()
		if !ok {
			break
		}
		if c := data[m.valAt]; c == '{' || c == '[' {
			return 0, nil
		}
		val, _ := m.value()
		switch {
		case rawEquals(key, "_placeholder"):
			isPlaceholder = string(val) == "true"
		case rawEquals(key, "num"):
			num = val
		}
	}
	if !isPlaceholder {
		return 0, nil
	}
	return m.pos, num
}

// placeholderProblem says what is wrong with a placeholder.
type placeholderProblem uint8

const (
	placeholderOK placeholderProblem = iota
	numMissing
	numNotNumber
	numNotIndex // a number, but not a non-negative integer
	numOutOfRange
)

// attachmentIndex decodes raw, the validated JSON value of a placeholder's
// "num" (nil when absent), as an attachment index below n. Only digits
// are accepted: no sign, fraction or exponent. It cannot overflow,
// whatever n and however many digits.
func attachmentIndex(raw []byte, n int) (int, placeholderProblem) {
	if raw == nil {
		return 0, numMissing
	}
	num, problem := parseCount(raw, int64(n)-1)
	switch problem {
	case countOK:
		return int(num), placeholderOK
	case countNotNumber:
		return 0, numNotNumber
	case countTooLarge:
		return 0, numOutOfRange
	}
	return 0, numNotIndex // negative, or not an integer
}

// placeholderError reports the problem with the placeholder at data[at]
// whose raw "num" is raw.
func placeholderError(problem placeholderProblem, raw []byte, n int, data []byte, at int) error {
	var detail string
	switch problem {
	case numMissing:
		detail = "placeholder without num"
	case numNotNumber:
		detail = "placeholder num is not a number"
	case numNotIndex:
		detail = "placeholder num " + shortNumber(raw) + " is not a non-negative integer"
	case numOutOfRange:
		detail = "attachment " + shortNumber(raw) + " out of range [0," + strconv.Itoa(n) + ")"
	}
	return detailError(ErrBadPlaceholder, detail, data, at)
}

// twiceDetail describes a second reference to attachment num.
func twiceDetail(num int) string {
	return "attachment " + strconv.Itoa(num) + " referenced twice"
}

// attachmentSet records which of n attachments are referenced: in one
// word when n is at most 64, else in n bits allocated once.
type attachmentSet struct {
	small uint64
	large []uint64
}

// newAttachmentSet returns an empty set for n attachments.
func newAttachmentSet(n int) attachmentSet {
	if n <= smallAttachments {
		return attachmentSet{}
	}
	return attachmentSet{large: make([]uint64, (n+63)/64)}
}

// add marks attachment i, which must be below n, and reports whether it
// was not marked yet.
func (s *attachmentSet) add(i int) bool {
	w := &s.small
	if s.large != nil {
		w = &s.large[i/64]
	}
	bit := uint64(1) << (i % 64)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}

// has reports whether attachment i, which must be below n, is marked.
func (s *attachmentSet) has(i int) bool {
	w := s.small
	if s.large != nil {
		w = s.large[i/64]
	}
	return w&(1<<(i%64)) != 0
}

// ResolveValue walks v, a value produced by json.Unmarshal into an any
// (nested map[string]any and []any), and returns a copy in which every
// placeholder map is replaced by the attachment it names, atts[N] itself
// (not a copy). A placeholder map is recognised as ResolveBinary
// recognises a placeholder object: "_placeholder" is true and no member
// is a map[string]any or []any. v is not modified; containers without
// placeholders are shared. A placeholder whose num is not an integer
// indexing atts is ErrBadPlaceholder, and so is a second placeholder for
// the same attachment (wrapped with its number), so that the result holds
// each attachment at most once. The walk does not recurse; nesting deeper
// than 10000 levels is ErrTooDeep.
func ResolveValue(v any, atts [][]byte) (any, error) {
	r := valueResolver{atts: atts, seen: newAttachmentSet(len(atts))}
	out, changed, err := r.resolve(v)
	if err != nil || !changed {
		return v, err
	}
	return out, nil
}

// valueResolver holds the state of one ResolveValue call.
type valueResolver struct {
	atts [][]byte
	seen attachmentSet
}

// resolveFrame is a container being walked.
type resolveFrame struct {
	list      []any          // the slice walked, or nil
	obj       map[string]any // the map walked, or nil
	keysStart int            // where obj's keys start in the walk's keys
	next      int            // index of the next element or key
	outList   []any          // list's copy, made on the first change
	outObj    map[string]any // obj's copy, made on the first change
}

// resolve returns the resolved value and whether it differs from root.
// It keeps an explicit stack of the containers being walked, outermost
// first, rather than recursing as deep as the peer nested its value, and
// the keys of the maps on it in one slice; both start on the goroutine
// stack.
func (r *valueResolver) resolve(root any) (any, bool, error) {
	var stackBuf [8]resolveFrame
	var keysBuf [16]string
	out, changed, err := r.placeholderMap(root)
	if err != nil || changed {
		return out, changed, err
	}
	stack, keys := push(stackBuf[:0], keysBuf[:0], root)
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		child, ok := f.child(keys)
		if !ok {
			out, changed = f.result()
			if stack, keys = pop(stack, keys); changed && len(stack) > 0 {
				stack[len(stack)-1].set(keys, out)
			}
			continue
		}
		if len(stack) > maxDepthCap {
			return nil, false, ErrTooDeep
		}
		nv, isPlaceholder, err := r.placeholderMap(child)
		switch {
		case err != nil:
			return nil, false, err
		case isPlaceholder:
			f.set(keys, nv)
		default:
			stack, keys = push(stack, keys, child)
		}
	}
	return out, changed, nil
}

// placeholderMap returns the attachment v names and true when v is a
// placeholder map.
func (r *valueResolver) placeholderMap(v any) (any, bool, error) {
	if m, ok := v.(map[string]any); ok && isPlaceholderMap(m) {
		b, err := r.placeholder(m)
		return b, err == nil, err
	}
	return v, false, nil
}

// push adds v to the stack when it is a non-empty container (and not a
// placeholder, which the caller has checked), and a map's keys to keys.
func push(stack []resolveFrame, keys []string, v any) ([]resolveFrame, []string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 0 {
			stack = append(stack, resolveFrame{obj: x, keysStart: len(keys)})
			for k := range x {
				keys = append(keys, k)
			}
		}
	case []any:
		if len(x) > 0 {
			stack = append(stack, resolveFrame{list: x})
		}
	}
	return stack, keys
}

// pop removes the innermost container and its keys.
func pop(stack []resolveFrame, keys []string) ([]resolveFrame, []string) {
	f := &stack[len(stack)-1]
	if f.obj != nil {
		clear(keys[f.keysStart:])
		keys = keys[:f.keysStart]
	}
	*f = resolveFrame{}
	return stack[:len(stack)-1], keys
}

// result returns the copy of f's container when anything in it changed.
func (f *resolveFrame) result() (any, bool) {
	if f.obj != nil {
		return f.outObj, f.outObj != nil
	}
	return f.outList, f.outList != nil
}

// child returns the next element or map value of f.
func (f *resolveFrame) child(keys []string) (any, bool) {
	if f.obj != nil {
		if f.next == len(f.obj) {
			return nil, false
		}
		f.next++
		return f.obj[keys[f.keysStart+f.next-1]], true
	}
	if f.next == len(f.list) {
		return nil, false
	}
	f.next++
	return f.list[f.next-1], true
}

// set replaces the child last returned, copying the container first.
func (f *resolveFrame) set(keys []string, v any) {
	if f.obj != nil {
		if f.outObj == nil {
			f.outObj = maps.Clone(f.obj)
		}
		f.outObj[keys[f.keysStart+f.next-1]] = v
		return
	}
	if f.outList == nil {
		f.outList = slices.Clone(f.list)
	}
	f.outList[f.next-1] = v
}

// isPlaceholderMap reports whether m is a placeholder: "_placeholder" is
// true and no member is a container.
func isPlaceholderMap(m map[string]any) bool {
	if m["_placeholder"] != true {
		return false
	}
	for _, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

// placeholder returns the attachment a placeholder map names.
func (r *valueResolver) placeholder(m map[string]any) ([]byte, error) {
	var f float64
	switch n := m["num"].(type) {
	case float64:
		f = n
	case int:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return nil, ErrBadPlaceholder
		}
	default:
		return nil, ErrBadPlaceholder
	}
	if f != math.Trunc(f) || f < 0 || f >= float64(len(r.atts)) {
		return nil, ErrBadPlaceholder
	}
	if !r.seen.add(int(f)) {
		return nil, fmt.Errorf("%w: %s", ErrBadPlaceholder, twiceDetail(int(f)))
	}
	return r.atts[int(f)], nil
}

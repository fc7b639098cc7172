package frames

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
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
// []byte yields the bytes. It does not allocate when dst has room.
//
// A placeholder is an object with a member "_placeholder": true (keys in
// any order; the last of duplicate keys wins) and no array or object
// members. Its "num" must be an integer indexing atts, else the error
// wraps ErrBadPlaceholder. Malformed JSON is ErrInvalidJSON. On error dst
// is returned unchanged.
func ResolveBinary(dst, data []byte, atts [][]byte) ([]byte, error) {
	if _, _, err := validValue(data, 0, maxDepthCap); err != nil {
		return dst, err
	}
	mark, copied := len(dst), 0
	for i := 0; i < len(data); {
		switch data[i] {
		case '"':
			i = skipString(data, i)
			continue
		case '{':
			end, num, err := placeholderAt(data, i, len(atts))
			if err != nil {
				return dst[:mark], err
			}
			if end > 0 {
				dst = appendBase64(append(dst, data[copied:i]...), atts[num])
				copied, i = end, end
				continue
			}
		}
		i++
	}
	return append(dst, data[copied:]...), nil
}

// appendBase64 appends b as a quoted base64 JSON string.
func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// placeholderAt examines the validated object at data[i]. When it is a
// placeholder it returns the index past it and the attachment number;
// otherwise end is 0. Members are scanned only up to the first array or
// object value, so the whole of ResolveBinary stays linear.
func placeholderAt(data []byte, i, n int) (end, num int, err error) {
	m := members{buf: data, pos: i + 1}
	isPlaceholder, numAt := false, -1
	for {
		key, ok, _ := m.key()
		if !ok {
			break
		}
		if c := data[m.valAt]; c == '{' || c == '[' {
			return 0, 0, nil
		}
		val, _ := m.value()
		switch {
		case rawEquals(key, "_placeholder"):
			isPlaceholder = string(val) == "true"
		case rawEquals(key, "num"):
			numAt = m.valAt
		}
	}
	if !isPlaceholder {
		return 0, 0, nil
	}
	if num, ok := attachmentIndex(data, numAt, n); ok {
		return m.pos, num, nil
	}
	return 0, 0, syntaxError(ErrBadPlaceholder, data, i)
}

// attachmentIndex decodes the digits-only integer at data[at] (at < 0 means
// absent) and checks that it is below n.
func attachmentIndex(data []byte, at, n int) (int, bool) {
	if at < 0 {
		return 0, false
	}
	j := skipDigits(data, at)
	if j == at {
		return 0, false
	}
	num := 0
	for _, c := range data[at:j] {
		num = num*10 + int(c-'0')
		if num >= n {
			return 0, false
		}
	}
	return num, j == len(data) || !isNumberByte(data[j])
}

// isNumberByte reports whether c can continue a JSON number.
func isNumberByte(c byte) bool {
	return c == '.' || c == 'e' || c == 'E'
}

// ResolveValue walks v, a value produced by json.Unmarshal into an any
// (nested map[string]any and []any), and returns a copy in which every
// placeholder map {"_placeholder":true,"num":N} is replaced by the
// attachment atts[N] itself (not a copy). v is not modified; containers
// without placeholders are shared. A placeholder whose num is not an
// integer indexing atts is ErrBadPlaceholder.
func ResolveValue(v any, atts [][]byte) (any, error) {
	out, changed, err := resolveValue(v, atts, 0)
	if err != nil || !changed {
		return v, err
	}
	return out, nil
}

// resolveValue returns the resolved value and whether it differs from v.
func resolveValue(v any, atts [][]byte, depth int) (any, bool, error) {
	if depth > maxDepthCap {
		return nil, false, ErrTooDeep
	}
	switch x := v.(type) {
	case map[string]any:
		if x["_placeholder"] == true {
			b, err := placeholderValue(x, atts)
			return b, true, err
		}
		return resolveMap(x, atts, depth)
	case []any:
		return resolveSlice(x, atts, depth)
	}
	return v, false, nil
}

// resolveMap resolves the values of m into a new map when any changes.
func resolveMap(m map[string]any, atts [][]byte, depth int) (any, bool, error) {
	var out map[string]any
	for k, v := range m {
		nv, changed, err := resolveValue(v, atts, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = maps.Clone(m) // copy on first change
		}
		if changed {
			out[k] = nv
		}
	}
	return out, out != nil, nil
}

// resolveSlice resolves the elements of s into a new slice when any
// changes.
func resolveSlice(s []any, atts [][]byte, depth int) (any, bool, error) {
	var out []any
	for i, v := range s {
		nv, changed, err := resolveValue(v, atts, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = append([]any(nil), s...)
		}
		if changed {
			out[i] = nv
		}
	}
	return out, out != nil, nil
}

// placeholderValue returns the attachment a placeholder map names.
func placeholderValue(m map[string]any, atts [][]byte) ([]byte, error) {
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
	if f != math.Trunc(f) || f < 0 || f >= float64(len(atts)) {
		return nil, ErrBadPlaceholder
	}
	return atts[int(f)], nil
}

package frames

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
)

// placeholderCase is a JSON value referring to attachments, with what
// ResolveBinary makes of it.
type placeholderCase struct {
	name string
	data string
	atts int // attachments: number k is the single byte k

	resolved string // ResolveBinary's output when it succeeds
	err      error  // the sentinel ResolveBinary fails with
	detail   string // and the SyntaxError's Detail

	// CheckPlaceholders fails as ResolveBinary does, and also, with
	// ErrBadPlaceholder and this Detail, where ResolveBinary succeeds but
	// the references are not exactly 0..atts-1 once each.
	check string
}

// attachments returns n attachments, number k being the single byte k.
func attachments(n int) [][]byte {
	atts := make([][]byte, n)
	for k := range atts {
		atts[k] = []byte{byte(k)}
	}
	return atts
}

var placeholderCases = []placeholderCase{
	{
		name:     "placeholder",
		data:     `{"_placeholder":true,"num":0}`,
		atts:     1,
		resolved: `"AA=="`,
	},
	{
		name:     "keys in any order, with whitespace",
		data:     `{ "num" : 1 , "_placeholder" : true }`,
		atts:     2,
		resolved: `"AQ=="`,
		check:    "attachment 0 never referenced",
	},
	{
		name:     "escaped key",
		data:     `{"\u005fplaceholder":true,"num":0}`,
		atts:     1,
		resolved: `"AA=="`,
	},
	{
		name:     "nested, next to other values",
		data:     `[{"a":{"_placeholder":true,"num":1}}, "x", {"_placeholder":true,"num":0}]`,
		atts:     2,
		resolved: `[{"a":"AQ=="}, "x", "AA=="]`,
	},
	{
		name:     "last duplicate num wins",
		data:     `{"_placeholder":true,"num":"x","num":0}`,
		atts:     1,
		resolved: `"AA=="`,
	},
	{
		name:     "last duplicate _placeholder wins",
		data:     `{"_placeholder":true,"num":0,"_placeholder":null}`,
		atts:     1,
		resolved: `{"_placeholder":true,"num":0,"_placeholder":null}`,
		check:    "attachment 0 never referenced",
	},
	{
		name:     "_placeholder false",
		data:     `{"_placeholder":false,"num":0}`,
		atts:     1,
		resolved: `{"_placeholder":false,"num":0}`,
		check:    "attachment 0 never referenced",
	},
	{
		name:     "object member: not a placeholder",
		data:     `[{"_placeholder":true,"num":0,"x":{}},{"_placeholder":true,"num":0}]`,
		atts:     1,
		resolved: `[{"_placeholder":true,"num":0,"x":{}},"AA=="]`,
	},
	{
		name:     "array member: not a placeholder",
		data:     `[{"x":[],"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`,
		atts:     1,
		resolved: `[{"x":[],"_placeholder":true,"num":0},"AA=="]`,
	},
	{
		name:     "placeholder inside a string",
		data:     `{"a":"{\"_placeholder\":true,\"num\":0}"}`,
		resolved: `{"a":"{\"_placeholder\":true,\"num\":0}"}`,
	},
	{
		name:   "num out of range",
		data:   `["x",{"_placeholder":true,"num":2}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "attachment 2 out of range [0,2)",
	},
	{
		name:   "placeholder without attachments",
		data:   `[{"_placeholder":true,"num":0}]`,
		err:    ErrBadPlaceholder,
		detail: "attachment 0 out of range [0,0)",
	},
	{
		name:   "num far out of range",
		data:   `[{"_placeholder":true,"num":123456789012345678901234567890}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "attachment 123456789012345678901234... out of range [0,2)",
	},
	{
		name:   "negative num",
		data:   `[{"_placeholder":true,"num":-1}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder num -1 is not a non-negative integer",
	},
	{
		name:   "fractional num",
		data:   `[{"_placeholder":true,"num":0.5}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder num 0.5 is not a non-negative integer",
	},
	{
		name:   "num with an exponent",
		data:   `[{"_placeholder":true,"num":1e0}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder num 1e0 is not a non-negative integer",
	},
	{
		name:   "string num",
		data:   `[{"_placeholder":true,"num":"0"}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder num is not a number",
	},
	{
		name:   "null num",
		data:   `[{"_placeholder":true,"num":null}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder num is not a number",
	},
	{
		name:   "no num",
		data:   `[{"_placeholder":true}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "placeholder without num",
	},
	{
		name:   "second reference",
		data:   `["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`,
		atts:   1,
		err:    ErrBadPlaceholder,
		detail: "attachment 0 referenced twice",
	},
	{
		name:   "second reference, spelled differently",
		data:   `[{"_placeholder":true,"num":1},{"a":{"num":1,"\u005fplaceholder":true}}]`,
		atts:   2,
		err:    ErrBadPlaceholder,
		detail: "attachment 1 referenced twice",
	},
	{
		name:   "one attachment referenced a thousand times",
		data:   "[" + strings.Repeat(`{"_placeholder":true,"num":0},`, 999) + `{"_placeholder":true,"num":0}]`,
		atts:   1,
		err:    ErrBadPlaceholder,
		detail: "attachment 0 referenced twice",
	},
	{
		name:   "second reference among 100 attachments",
		data:   placeholderArray(append(seq(71), seq(100)[70:]...)...),
		atts:   100,
		err:    ErrBadPlaceholder,
		detail: "attachment 70 referenced twice",
	},
	{
		name:     "100 attachments",
		data:     placeholderArray(seq(100)...),
		atts:     100,
		resolved: base64Array(seq(100)...),
	},
	{
		name:     "an attachment never referenced",
		data:     `[{"_placeholder":true,"num":1}]`,
		atts:     3,
		resolved: `["AQ=="]`,
		check:    "attachment 0 never referenced",
	},
	{
		name:     "the last of 100 attachments never referenced",
		data:     placeholderArray(seq(99)...),
		atts:     100,
		resolved: base64Array(seq(99)...),
		check:    "attachment 99 never referenced",
	},
	{
		name:     "more attachments than room for placeholders",
		data:     `[{"_placeholder":true,"num":0}]`,
		atts:     65,
		resolved: `["AA=="]`,
		check:    "65 attachments but room for 1 placeholders",
	},
	{
		name: "unterminated",
		data: `{"_placeholder":true,"num":0`,
		atts: 1,
		err:  ErrInvalidJSON,
	},
	{
		name: "trailing data",
		data: `[{"_placeholder":true,"num":0}]x`,
		atts: 1,
		err:  ErrInvalidJSON,
	},
}

// placeholderArray returns a JSON array of placeholders for nums.
func placeholderArray(nums ...int) string {
	b := []byte{'['}
	for i, n := range nums {
		if i > 0 {
			b = append(b, ',')
		}
		b = Placeholder{Placeholder: true, Num: n}.appendJSON(b)
	}
	return string(append(b, ']'))
}

// base64Array returns a JSON array of the base64 of attachments nums.
func base64Array(nums ...int) string {
	b := []byte{'['}
	for i, n := range nums {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendBase64(b, []byte{byte(n)})
	}
	return string(append(b, ']'))
}

// seq returns 0..n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestResolveBinaryCases(t *testing.T) {
	for _, c := range placeholderCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveBinary([]byte("<"), []byte(c.data), attachments(c.atts))
			checkPlaceholderError(t, err, c.err, c.detail)
			if c.err != nil && string(got) != "<" {
				t.Fatalf("dst changed to %q on error", got)
			}
			if c.err == nil && string(got) != "<"+c.resolved {
				t.Fatalf("resolved %s, want %s", got[1:], c.resolved)
			}
		})
	}
}

func TestCheckPlaceholders(t *testing.T) {
	for _, c := range placeholderCases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPlaceholders([]byte(c.data), c.atts)
			if c.check != "" {
				checkPlaceholderError(t, err, ErrBadPlaceholder, c.check)
			} else {
				checkPlaceholderError(t, err, c.err, c.detail)
			}
		})
	}
	err := CheckPlaceholders([]byte(`[]`), -1)
	checkPlaceholderError(t, err, ErrBadAttachments, "negative attachment count -1")
}

// checkPlaceholderError fails unless err is nil when want is, and
// otherwise a *SyntaxError wrapping want with the given Detail.
func checkPlaceholderError(t *testing.T, err, want error, detail string) {
	t.Helper()
	var se *SyntaxError
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error %v", err)
	case want == nil:
	case !errors.As(err, &se) || se.Err != want || se.Detail != detail:
		t.Fatalf("error %#v, want %v with detail %q", err, want, detail)
	}
}

func TestAttachmentIndexNeverOverflows(t *testing.T) {
	for _, c := range []struct {
		raw     string
		n       int
		num     int
		problem placeholderProblem
	}{
		{raw: "9223372036854775806", n: math.MaxInt, num: math.MaxInt - 1},
		{raw: "9223372036854775807", n: math.MaxInt, problem: numOutOfRange},
		{raw: "9223372036854775808", n: math.MaxInt, problem: numOutOfRange},
		{raw: "92233720368547758070", n: math.MaxInt, problem: numOutOfRange},
		{raw: "18446744073709551617", n: math.MaxInt, problem: numOutOfRange},
	} {
		num, problem := attachmentIndex([]byte(c.raw), c.n)
		if num != c.num || problem != c.problem {
			t.Errorf("%s of %d: %d, %d; want %d, %d", c.raw, c.n, num, problem, c.num, c.problem)
		}
	}
}

func TestSyntaxErrorDetail(t *testing.T) {
	_, err := ResolveBinary(nil, []byte(`[{"_placeholder":true,"num":3}]`), nil)
	want := `frames: bad binary placeholder: attachment 3 out of range [0,0) at offset 1 near "[{\"_placeholder\""`
	if err == nil || err.Error() != want {
		t.Fatalf("message %v, want %s", err, want)
	}
}

func TestResolveValueErrors(t *testing.T) {
	for _, num := range []any{2.0, -1.0, 0.5, "0", nil, json.Number("x")} {
		v := []any{map[string]any{"_placeholder": true, "num": num}}
		if _, err := ResolveValue(v, [][]byte{{1}, {2}}); !errors.Is(err, ErrBadPlaceholder) {
			t.Errorf("num %v: error %v, want ErrBadPlaceholder", num, err)
		}
	}
	v := map[string]any{"a": []any{1.0}}
	if got, err := ResolveValue(v, nil); err != nil || !reflect.DeepEqual(got, v) {
		t.Errorf("no placeholders: %v, %v", got, err)
	}
}

// TestResolveValueOnce checks that ResolveValue refuses to put one
// attachment in its result twice, as ResolveBinary does.
func TestResolveValueOnce(t *testing.T) {
	for _, c := range placeholderCases {
		if c.err == nil || c.detail == "" || !strings.HasSuffix(c.detail, "referenced twice") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(c.data), &v); err != nil {
				t.Fatal(err)
			}
			_, err := ResolveValue(v, attachments(c.atts))
			if !errors.Is(err, ErrBadPlaceholder) || !strings.HasSuffix(err.Error(), c.detail) {
				t.Fatalf("error %v, want ErrBadPlaceholder: %s", err, c.detail)
			}
		})
	}
	ph := map[string]any{"_placeholder": true, "num": 1.0}
	if _, err := ResolveValue([]any{ph, map[string]any{"a": ph}}, attachments(2)); !errors.Is(err, ErrBadPlaceholder) {
		t.Fatalf("one placeholder map twice in the value: %v", err)
	}
}

// TestResolveValueCases checks that ResolveValue resolves the values of
// placeholderCases as ResolveBinary resolves their JSON. Only a num
// written as a fraction or exponent differs: json.Unmarshal reads it as
// a float64, so ResolveValue cannot tell 1e0 from 1.
func TestResolveValueCases(t *testing.T) {
	for _, c := range placeholderCases {
		var v any
		if json.Unmarshal([]byte(c.data), &v) != nil || strings.HasSuffix(c.detail, "not a non-negative integer") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			got, err := ResolveValue(v, attachments(c.atts))
			if (err != nil) != (c.err != nil) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if c.err != nil {
				return
			}
			enc, err := json.Marshal(got)
			var a, b any
			if err != nil || json.Unmarshal(enc, &a) != nil || json.Unmarshal([]byte(c.resolved), &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("resolved to %s, want %s", enc, c.resolved)
			}
		})
	}
}

// TestResolveValueShares checks that ResolveValue copies only the
// containers on the way to a placeholder and leaves its input alone.
func TestResolveValueShares(t *testing.T) {
	plain := []any{1.0, map[string]any{"a": "b"}}
	ph := map[string]any{"_placeholder": true, "num": 0.0}
	holder := map[string]any{"file": ph, "name": "f"}
	v := []any{plain, holder}
	got, err := ResolveValue(v, attachments(1))
	if err != nil {
		t.Fatal(err)
	}
	out := got.([]any)
	if &out[0].([]any)[0] != &plain[0] {
		t.Error("container without placeholders copied")
	}
	if want := []any{plain, map[string]any{"file": []byte{0}, "name": "f"}}; !reflect.DeepEqual(out, want) {
		t.Errorf("resolved %#v, want %#v", out, want)
	}
	if v[1].(map[string]any)["file"].(map[string]any)["num"] != 0.0 {
		t.Error("input modified")
	}
}

// nest returns leaf inside depth nested []any.
func nest(depth int, leaf any) any {
	for range depth {
		leaf = []any{leaf}
	}
	return leaf
}

// TestResolveValueDeep checks the depth limit of the walk.
func TestResolveValueDeep(t *testing.T) {
	ph := map[string]any{"_placeholder": true, "num": 0.0}
	got, err := ResolveValue(nest(maxDepthCap, ph), attachments(1))
	if err != nil || !reflect.DeepEqual(got, nest(maxDepthCap, []byte{0})) {
		t.Fatalf("depth %d: %v", maxDepthCap, err)
	}
	if _, err := ResolveValue(nest(maxDepthCap+1, ph), attachments(1)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth %d: %v, want ErrTooDeep", maxDepthCap+1, err)
	}
	if _, err := ResolveValue(nest(maxDepthCap, []any{}), nil); err != nil {
		t.Fatalf("empty array at depth %d: %v", maxDepthCap, err)
	}
}

// TestResolveValueWithoutRecursion resolves the deepest value allowed
// with the goroutine stack limited to 512 KiB: a recursive walk needs
// several MiB for it and would crash the test binary.
func TestResolveValueWithoutRecursion(t *testing.T) {
	v := nest(maxDepthCap, map[string]any{"_placeholder": true, "num": 0.0})
	defer debug.SetMaxStack(debug.SetMaxStack(512 << 10))
	if _, err := ResolveValue(v, attachments(1)); err != nil {
		t.Fatal(err)
	}
}

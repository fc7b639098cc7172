package frames

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// extractAndEncode runs ExtractBinary and encodes the result as an EVENT.
func extractAndEncode(t *testing.T, args ...any) ([]byte, [][]byte) {
	t.Helper()
	out, atts, err := ExtractBinary(args)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return data, atts
}

func TestExtractResolveNested(t *testing.T) {
	args := []any{"x", []any{map[string]any{"file": []byte{1, 2}, "name": "a"}}, []byte{3}}
	data, atts := extractAndEncode(t, args...)
	want := `["x",[{"file":{"_placeholder":true,"num":0},"name":"a"}],{"_placeholder":true,"num":1}]`
	if string(data) != want || len(atts) != 2 {
		t.Fatalf("encoded %s with %d attachments, want %s", data, len(atts), want)
	}
	if _, ok := args[2].([]byte); !ok {
		t.Fatal("input modified")
	}
	var decoded any
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	got, err := ResolveValue(decoded, atts)
	if err != nil {
		t.Fatal(err)
	}
	wantValue := []any{"x", []any{map[string]any{"file": []byte{1, 2}, "name": "a"}}, []byte{3}}
	if !reflect.DeepEqual(got, wantValue) {
		t.Fatalf("resolved %#v, want %#v", got, wantValue)
	}
}

type upload struct {
	Name    string `json:"name"`
	Data    []byte `json:"data"`
	Skip    []byte `json:"-"`
	Empty   string `json:"empty,omitempty"`
	Count   int    `json:",string"`
	private []byte
	Meta
}

type Meta struct {
	Created time.Time `json:"created,omitzero"`
	Thumb   []byte    `json:"thumb,omitempty"`
}

func TestExtractResolveStruct(t *testing.T) {
	in := upload{Name: "f", Data: []byte("hello"), Skip: []byte("no"), Count: 3, private: []byte("p")}
	data, atts := extractAndEncode(t, in)
	want := `[{"Count":"3","data":{"_placeholder":true,"num":0},"name":"f"}]`
	if string(data) != want {
		t.Fatalf("encoded %s, want %s", data, want)
	}
	resolved, err := ResolveBinary(nil, data, atts)
	if err != nil {
		t.Fatal(err)
	}
	var out []upload
	if err := json.Unmarshal(resolved, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || string(out[0].Data) != "hello" || out[0].Name != "f" || out[0].Count != 3 {
		t.Fatalf("round trip gave %+v", out)
	}
}

type stamp struct{ T time.Time }

func TestExtractPassesThrough(t *testing.T) {
	args := []any{json.RawMessage(`[1]`), stamp{}, &stamp{}, []int{1}, map[int]string{1: "a"}, [2]byte{1, 2}, []byte(nil), nil}
	out, atts, err := ExtractBinary(args)
	if err != nil || atts != nil || &out[0] != &args[0] {
		t.Fatalf("out %v atts %v err %v: want args shared", out, atts, err)
	}
}

type blob []byte

func TestExtractReflection(t *testing.T) {
	b := []byte{9}
	args := []any{&b, map[string][]byte{"b": {2}, "a": {1}}, [][]byte{{3}}, blob{4}, map[uint8]any{7: []byte{5}}}
	data, atts := extractAndEncode(t, args...)
	want := `[{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1},"b":{"_placeholder":true,"num":2}},` +
		`[{"_placeholder":true,"num":3}],{"_placeholder":true,"num":4},{"7":{"_placeholder":true,"num":5}}]`
	if string(data) != want {
		t.Fatalf("encoded %s, want %s", data, want)
	}
	if !reflect.DeepEqual(atts, [][]byte{{9}, {1}, {2}, {3}, {4}, {5}}) {
		t.Fatalf("attachments %v", atts)
	}
}

type loop struct {
	Next *loop
	Data any
}

func TestExtractCycle(t *testing.T) {
	l := &loop{}
	l.Next = l
	if _, _, err := ExtractBinary([]any{l}); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("error %v, want ErrTooDeep", err)
	}
}

type inner struct {
	Blob  []byte            `json:"blob,omitempty"`
	Dup   string            // hidden by outer.Dup
	Tie   int               // ties with Other.Tie: both hidden
	Files map[string][]byte `json:"files"`
}

type Other struct {
	Tie   int
	Under []byte `json:"under"`
}

type outer struct {
	*inner
	Other
	Dup     string          `json:"dup"`
	Ptr     *[]byte         `json:"ptr"`
	NilPtr  *Other          `json:"nil_ptr,omitempty"`
	List    []Other         `json:"list"`
	Any     any             `json:"any"`
	Quoted  bool            `json:"q,string"`
	Zero    time.Time       `json:"zero,omitzero"`
	Raw     json.RawMessage `json:"raw"`
	Hidden  []byte          `json:"-"`
	Dash    int             `json:"-,"`
	private int
}

// TestExtractMatchesEncodingJSON checks that extracting, encoding and
// resolving gives the JSON that encoding/json writes for the original.
func TestExtractMatchesEncodingJSON(t *testing.T) {
	b := []byte{7, 8}
	values := []any{
		outer{
			inner:  &inner{Blob: []byte{1}, Dup: "inner", Tie: 1, Files: map[string][]byte{"x": {2}, "y": nil}},
			Other:  Other{Tie: 2, Under: []byte{3}},
			Dup:    "outer",
			Ptr:    &b,
			List:   []Other{{Under: []byte{4}}, {}},
			Any:    map[string]any{"deep": []any{[]byte{5}, 1.5}},
			Quoted: true,
			Raw:    json.RawMessage(`{"r":1}`),
			Hidden: []byte{6},
			Dash:   9,
		},
		outer{Other: Other{Under: []byte{}}},
		&outer{Any: []byte{1}},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		data, atts := extractAndEncode(t, v)
		got, err := ResolveBinary(nil, data[1:len(data)-1], atts)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

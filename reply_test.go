package siostream_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/refserver"
)

// TestInteropReplyNestedBinary: the reference server acknowledges with
// binary at several depths; the Reply gives the bytes where they stood,
// through Decode, Values and Attachments, and Args keeps the placeholders.
func TestInteropReplyNestedBinary(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	s := dial(t, srv.URL, siostream.Options{})
	refWelcomeOf(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), refWait)
	defer cancel()
	r, err := s.EmitWithAck(ctx, "binary-ack-nested")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Attachments()); n != 4 {
		t.Fatalf("%d attachments, want 4 (args %s)", n, r.Args)
	}
	if !bytes.Contains(r.Args, []byte(`"_placeholder":true`)) {
		t.Errorf("Args %s: placeholders expected in the raw form", r.Args)
	}
	var first struct {
		A      []byte
		Nested struct {
			List []any
		}
	}
	var second []byte
	var third string
	if err := r.Decode(&first, &second, &third); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.A, []byte{1, 2}) || !bytes.Equal(second, []byte{6}) || third != "text" {
		t.Fatalf("decoded %v %v %q", first.A, second, third)
	}
	vals, err := r.Values()
	if err != nil {
		t.Fatal(err)
	}
	nested := vals[0].(map[string]any)["nested"].(map[string]any)["list"].([]any)
	want := []any{"x", []byte{3}, map[string]any{"deep": []byte{4, 5}}}
	if !reflect.DeepEqual(nested, want) {
		t.Fatalf("Values nested list %#v, want %#v", nested, want)
	}
	if arg := r.Arg(1); string(arg) != `"Bg=="` {
		t.Fatalf("Arg(1) = %s, want the base64 of the attachment", arg)
	}
}

package siostream

import "testing"

// Helpers for the tests of package siostream's own machinery; the
// helpers of the tests of the public API are in helpers_test.go.

// bareStream returns a Manager that never dials and a Stream of it built
// as Manager.Dial builds one from the namespace options ns, for the tests
// that drive a stream's machinery without a connection. Both are closed
// when the test ends.
func bareStream(t *testing.T, conn, ns Options) (*Manager, *Stream) {
	t.Helper()
	m, err := NewManager("http://127.0.0.1:1", conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	st := newStream(m, m.streamOptions(ns))
	t.Cleanup(func() { st.Close() })
	return m, st
}

// serverEvent returns a server event named name, without arguments.
func serverEvent(name string) Event {
	return Event{Kind: KindEvent, Name: name, Args: []byte("[]")}
}

// lifecycleOf returns a lifecycle event of kind k.
func lifecycleOf(k Kind) Event { return Event{Kind: k, more: &eventMore{}} }

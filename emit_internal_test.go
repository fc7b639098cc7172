package siostream

import (
	"context"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/engine"
)

// TestFlushAfterVolatileDropped: a connection lost with an emit and a
// volatile emit unwritten keeps the first and drops the second; once the
// first is written after the reconnect, Flush has nothing left to wait
// for.
func TestFlushAfterVolatileDropped(t *testing.T) {
	_, st := bareStream(t, Options{}, Options{})
	a, b := engine.NewFrame(), engine.NewFrame()
	a.Data = append(a.Data, `42["a"]`...)
	b.Data = append(b.Data, `42["b"]`...)
	b.Volatile = true
	st.mu.Lock()
	st.state = streamReconnecting
	st.number(a)
	st.number(b)
	st.unwritten.Add(int64(a.Mem() + b.Mem()))
	st.requeue([]*engine.Frame{a, b}) // the connection ended with both unwritten
	if len(st.outbox) != 1 || st.outbox[0] != a {
		t.Fatalf("outbox %v, want the first emit alone", st.outbox)
	}
	st.mu.Unlock()
	st.Written([]*engine.Frame{a}) // written on the next connection
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v, though the first emit is written and the volatile one dropped", err)
	}
}

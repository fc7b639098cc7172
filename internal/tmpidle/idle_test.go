package tmpidle

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/internal/sioserver"
)

func init() { runtime.MemProfileRate = 1 }

func TestIdleHeap(t *testing.T) {
	srv, _ := sioserver.New(sioserver.Options{})
	defer srv.Close()
	const n = 1000
	var ss []*siostream.Stream
	for range n {
		s, err := siostream.Dial(context.Background(), srv.URL(), siostream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	f, _ := os.Create("/tmp/idle.heap")
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	for _, s := range ss {
		s.Close()
	}
}

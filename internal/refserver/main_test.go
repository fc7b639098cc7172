package refserver_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/siostream/siostream/internal/refserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	refserver.StopAll()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

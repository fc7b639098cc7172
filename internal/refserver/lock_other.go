//go:build !unix

package refserver

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// lockInstall creates the lock file for dir exclusively, waiting while
// another process holds it. A lock file older than the install timeout is
// taken to be left over from a killed run and removed.
func lockInstall(dir string) (unlock func(), err error) {
	path := lockPath(dir)
	deadline := time.Now().Add(lockTimeout)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("refserver: install lock: %w", err)
		}
		if fi, serr := os.Stat(path); serr == nil && time.Since(fi.ModTime()) > installTimeout {
			_ = os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("refserver: install lock %s still held after %s", path, lockTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

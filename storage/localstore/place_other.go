//go:build !linux

package localstore

import (
	"os"
	"path"
)

// placeInto checks that toName's directory is still inside to, then renames
// through the storage's root (rp): without renameat, a link swapped in
// between the two is followed.
func placeInto(from *os.Root, fromName string, to *os.Root, toName, rp string) error {
	if _, err := to.Stat(path.Dir(toName)); err != nil {
		return err
	}
	return from.Rename(fromName, rp)
}

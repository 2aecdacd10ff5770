package localstore

import (
	"os"
	"path"
	"syscall"
)

// placeInto renames fromName in from to toName in to, relative to their
// directories opened through each root (renameat), so that neither path
// is resolved again after its directory was opened.
func placeInto(from *os.Root, fromName string, to *os.Root, toName, _ string) error {
	fd, err := from.Open(path.Dir(fromName))
	if err != nil {
		return err
	}
	defer fd.Close()
	td, err := to.Open(path.Dir(toName))
	if err != nil {
		return err
	}
	defer td.Close()
	if err := syscall.Renameat(int(fd.Fd()), path.Base(fromName), int(td.Fd()), path.Base(toName)); err != nil {
		return &os.LinkError{Op: "renameat", Old: fromName, New: toName, Err: err}
	}
	return nil
}

//go:build !unix

package mmap

import (
	"errors"
	"os"
)

func mapFile(*os.File, int) ([]byte, error) { return nil, errors.New("mmap unavailable") }

func unmap([]byte) error { return nil }

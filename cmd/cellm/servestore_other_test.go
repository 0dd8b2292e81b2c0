//go:build !unix

package main

import "testing"

// servesStore needs SIGTERM to stop the server; it runs on unix only.
func servesStore(t *testing.T, want string) { t.Log("serve of the store's models: tested on unix") }

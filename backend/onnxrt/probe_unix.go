//go:build onnxruntime && !windows

package onnxrt

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// The two entry points at the start of ONNX Runtime's OrtApiBase struct
// (a stable part of its C ABI).
typedef struct {
	const void *(*get_api)(uint32_t version);
	const char *(*get_version_string)(void);
} cellm_ort_api_base;

typedef const cellm_ort_api_base *(*cellm_ort_get_api_base)(void);

// cellm_ort_probe loads the library at path, copies its version string and
// reports whether it serves C API version api: 0 yes, 1 dlopen failed,
// 2 no OrtGetApiBase symbol, 3 no API base, 4 API version not served.
static int cellm_ort_probe(const char *path, uint32_t api, char *version, size_t version_len, char *msg, size_t msg_len) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(msg, msg_len, "%s", e ? e : "dlopen failed");
		return 1;
	}
	cellm_ort_get_api_base get = (cellm_ort_get_api_base)dlsym(h, "OrtGetApiBase");
	if (!get) {
		dlclose(h);
		return 2;
	}
	const cellm_ort_api_base *base = get();
	if (!base) {
		dlclose(h);
		return 3;
	}
	const char *v = base->get_version_string ? base->get_version_string() : NULL;
	snprintf(version, version_len, "%s", v ? v : "unknown");
	int ok = base->get_api && base->get_api(api) != NULL;
	dlclose(h);
	return ok ? 0 : 4;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// probeLibrary checks that the shared library at path is ONNX Runtime and
// serves the C API version the binding was built for, so that a wrong file
// gives an error naming it and the version wanted.
func probeLibrary(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var version, msg [256]C.char
	rc := C.cellm_ort_probe(cpath, C.uint32_t(apiVersion), &version[0], C.size_t(len(version)), &msg[0], C.size_t(len(msg)))
	switch rc {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("onnxrt: cannot load ONNX Runtime library %s: %s (want ONNX Runtime >= %s)", path, C.GoString(&msg[0]), MinRuntimeVersion)
	case 2, 3:
		return fmt.Errorf("onnxrt: %s is not an ONNX Runtime library (no OrtGetApiBase); want ONNX Runtime >= %s", path, MinRuntimeVersion)
	default:
		return fmt.Errorf("onnxrt: ONNX Runtime library %s is version %s, which lacks C API version %d: want ONNX Runtime >= %s (scripts/get-onnxruntime.sh)", path, C.GoString(&version[0]), apiVersion, MinRuntimeVersion)
	}
}

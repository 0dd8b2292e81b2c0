package cellm

import "testing"

func TestStopMatcher(t *testing.T) {
	cases := []struct {
		stops  []string
		pieces []string
		want   string
		stop   bool
	}{
		{nil, []string{"a", "b"}, "ab", false},
		{[]string{"END"}, []string{"hello E", "N", "D more"}, "hello ", true},
		{[]string{"END"}, []string{"hello E", "N", "d"}, "hello ENd", false},
		{[]string{"\n\n", "User:"}, []string{"ok\n", "User: hi"}, "ok\n", true},
		{[]string{"ab"}, []string{"aab"}, "a", true},
	}
	for _, c := range cases {
		m := stopMatcher{stops: c.stops}
		got, stopped := "", false
		for _, p := range c.pieces {
			e, s := m.push(p)
			got += e
			if s {
				stopped = true
				break
			}
		}
		if !stopped {
			got += m.flush()
		}
		if got != c.want || stopped != c.stop {
			t.Errorf("%q %q: got %q (stop %v), want %q (stop %v)", c.stops, c.pieces, got, stopped, c.want, c.stop)
		}
	}
}

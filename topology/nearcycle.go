package topology

// nearCycle returns, for a mesh whose sides are all odd (so with no
// Hamiltonian cycle: it has an odd number of nodes), a Hamiltonian path
// whose ends are two links apart, so that a ring along it has one step of
// two hops and every other step of one; ok is false when the mesh has a
// single side longer than 1 (a line), where no path closes better than
// the snake.
//
// The nodes are viewed as a grid of rows x columns: rows along the first
// dimension of size >= 3, columns along the snake of the other
// dimensions (consecutive columns are neighbours), both odd in number.
// Rows 1.. with every column have an even number of rows, so a cycle runs
// along row 1, snakes through the remaining rows over columns 1.., and
// returns up column 0. Row 1 is walked left to right, so row 0's nodes
// other than the corner splice in pairwise ((1,j) (0,j) (0,j+1) (1,j+1)
// for odd j), and the corner (0,0) sits between (1,0) and (1,1), two links
// from the latter. The path starts at (1,1) and ends at (0,0).
func (g *GridNet) nearCycle() (path []int, ok bool) {
	e := -1
	for d, k := range g.dims {
		if k%2 == 0 {
			return nil, false
		}
		if k >= 3 && e < 0 {
			e = d
		}
	}
	if e < 0 {
		return nil, false
	}
	var rest []int
	for d := range g.dims {
		if d != e {
			rest = append(rest, d)
		}
	}
	cols := g.snake(rest)
	a, m := g.dims[e], len(cols)
	if m < 3 {
		return nil, false
	}
	at := func(r, j int) int { return r*g.stride[e] + cols[j] }
	path = make([]int, 0, g.n)
	path = append(path, at(1, 1))
	for j := 1; j+1 < m; j += 2 {
		path = append(path, at(0, j), at(0, j+1), at(1, j+1))
		if j+2 < m {
			path = append(path, at(1, j+2))
		}
	}
	for r := 2; r < a; r++ {
		for k := 1; k < m; k++ {
			j := m - k // leftward on even offsets from row 2
			if (r-2)%2 == 1 {
				j = k
			}
			path = append(path, at(r, j))
		}
	}
	for r := a - 1; r >= 1; r-- {
		path = append(path, at(r, 0))
	}
	path = append(path, at(0, 0))
	return path, true
}

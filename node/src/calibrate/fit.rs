//! The arithmetic of calibration: solving for per-class times, linear fits, and turning
//! nanoseconds into gas.

/// Solves `a · x = b` for a square system by Gaussian elimination with partial pivoting.
///
/// Row `i` of `a` is benchmark `i`'s per-iteration operator counts by class and `b[i]` its
/// per-iteration time (ns); `x[c]` is then the time of one operator of class `c`.
/// Returns `None` if the system is singular (some class is never executed, or two
/// benchmarks are proportional).
pub fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    if a.len() != n || a.iter().any(|r| r.len() != n) {
        return None;
    }
    let mut m: Vec<Vec<f64>> = a.iter().zip(b).map(|(r, &y)| r.iter().copied().chain([y]).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-9 {
            return None;
        }
        m.swap(col, pivot);
        let p = m[col].clone();
        for (i, row) in m.iter_mut().enumerate() {
            let f = row[col] / p[col];
            if i != col && f != 0.0 {
                for (x, y) in row[col..].iter_mut().zip(&p[col..]) {
                    *x -= f * y;
                }
            }
        }
    }
    Some((0..n).map(|i| m[i][n] / m[i][i]).collect())
}

/// Least-squares line `y = base + slope · x` through `points` (x, y).
/// Returns `None` with fewer than two distinct `x`.
pub fn linear_fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// Gas for a measured time: `ns / gas_ns` rounded to nearest, at least `min`.
pub fn to_gas(ns: f64, gas_ns: f64, min: u64) -> u64 {
    let g = (ns / gas_ns).round();
    if g.is_finite() && g > min as f64 {
        g.min(u32::MAX as f64) as u64
    } else {
        min
    }
}

/// Gas per unit (byte, element, page) for a measured slope: rounded *up*, at least 1, so
/// a size-dependent cost is never free.
pub fn to_unit_gas(ns_per_unit: f64, gas_ns: f64) -> u64 {
    let g = (ns_per_unit / gas_ns).ceil();
    if g.is_finite() && g > 1.0 {
        g.min(u32::MAX as f64) as u64
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_recovers_a_known_solution() {
        // Lower-triangular with helpers, like the benchmark matrix: x = [2, 0.5, 10].
        let a = vec![vec![4.0, 0.0, 0.0], vec![2.0, 8.0, 0.0], vec![1.0, 3.0, 5.0]];
        let b = vec![8.0, 8.0, 53.5];
        let x = solve(&a, &b).unwrap();
        for (got, want) in x.iter().zip([2.0, 0.5, 10.0]) {
            assert!((got - want).abs() < 1e-9, "{x:?}");
        }
    }

    #[test]
    fn solve_rejects_a_singular_system() {
        let a = vec![vec![1.0, 2.0], vec![2.0, 4.0]];
        assert_eq!(solve(&a, &[1.0, 2.0]), None);
        assert_eq!(solve(&[vec![1.0, 0.0]], &[1.0]), None);
    }

    #[test]
    fn linear_fit_finds_base_and_slope() {
        let (base, slope) = linear_fit(&[(0.0, 10.0), (100.0, 60.0), (1000.0, 510.0)]).unwrap();
        assert!((base - 10.0).abs() < 1e-9 && (slope - 0.5).abs() < 1e-12);
        assert_eq!(linear_fit(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn gas_rounding() {
        assert_eq!(to_gas(10.0, 0.5, 1), 20);
        assert_eq!(to_gas(0.1, 0.5, 1), 1);
        assert_eq!(to_gas(-3.0, 0.5, 0), 0);
        assert_eq!(to_gas(f64::NAN, 0.5, 1), 1);
        assert_eq!(to_unit_gas(0.01, 0.5), 1);
        assert_eq!(to_unit_gas(1.1, 0.5), 3);
    }
}

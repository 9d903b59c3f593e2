"""opendit-random-v1 normals in numpy, written from checkpoint/README.md ("The generator"): the stream of
key(seed, name) that checkpoint/generator.ts draws (fillNormals), bit for bit. make_goldens.py builds the golden
checkpoints from it, so the goldens need not store their weights: test/helpers/golden-weights.ts draws the same
values in TypeScript, and test/reference/goldens.test.ts compares them by sha256 with what this module drew.

Every step is an IEEE-754 binary64 operation that is correctly rounded (+, -, *, /, sqrt, and exact frexp and
integer conversions); numpy's elementwise ufuncs never fuse a multiply and an add, so the doubles are the ones
the TypeScript reference computes. Integers are numpy uint64 arrays, whose arithmetic wraps modulo 2^64."""

import numpy as np

U64 = np.uint64
GAMMA = U64(0x9E3779B97F4A7C15)
M1 = U64(0xBF58476D1CE4E5B9)
M2 = U64(0x94D049BB133111EB)
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x00000100000001B3
MASK = (1 << 64) - 1
LN2 = 0.6931471805599453
SQRT1_2 = 0.7071067811865476
HALF_PI = 1.5707963267948966
ATANH = [1.0 / (2 * j + 1) for j in range(12)]


def mix64(z):
    """SplitMix64's output function on a uint64 array."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> U64(30))) * M1
        z = (z ^ (z >> U64(27))) * M2
    return z ^ (z >> U64(31))


def _mix64_int(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a64(name):
    h = FNV_OFFSET
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return h


def tensor_key(seed, name):
    """key(seed, name) = mix64(mix64(seed + GAMMA) ^ fnv1a64(name)), 0 <= seed < 2^53."""
    if not (isinstance(seed, int) and 0 <= seed < 2**53):
        raise ValueError(f"the seed must be an integer from 0 to 2^53 - 1, not {seed!r}")
    return _mix64_int(_mix64_int((seed + int(GAMMA)) & MASK) ^ fnv1a64(name))


def uniform(x):
    """((x >> 12) + 0.5) * 2^-52, exact, strictly inside (0, 1)."""
    return ((x >> U64(12)).astype(np.float64) + 0.5) * 2.0**-52


def log_unit(u):
    m, e = np.frexp(u)
    e = e.astype(np.float64)
    low = m < SQRT1_2
    m = np.where(low, m * 2.0, m)
    e = np.where(low, e - 1.0, e)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = np.full_like(z, ATANH[11])
    for j in range(10, -1, -1):
        p = p * z + ATANH[j]
    return e * LN2 + (s + s) * p


def cos_sin_quarter(a):
    a2 = a * a
    c = np.ones_like(a)
    s = np.ones_like(a)
    for j in range(11, 0, -1):
        c = 1.0 - (c * a2) / float((2 * j - 1) * (2 * j))
        s = 1.0 - (s * a2) / float((2 * j) * (2 * j + 1))
    return c, a * s


def box_muller(u1, u2):
    r = np.sqrt(-2.0 * log_unit(u1))
    v = 4.0 * u2
    q = np.floor(v)
    c, s = cos_sin_quarter((v - q) * HALF_PI)
    rc, rs = r * c, r * s
    z0 = np.select([q == 0, q == 1, q == 2], [rc, -rs, -rc], rs)
    z1 = np.select([q == 0, q == 1, q == 2], [rs, rc, -rs], -rc)
    return z0, z1


def normals(seed, name, count):
    """The first `count` standard normals (float64) of the stream of key(seed, name): elements 2j and 2j + 1
    are z0 and z1 of Box-Muller on draws 2j and 2j + 1 (an odd last element is its pair's z0)."""
    pairs = (count + 1) // 2
    key = U64(tensor_key(seed, name))
    n = np.arange(2 * pairs, dtype=U64)
    with np.errstate(over="ignore"):
        draws = mix64(key + (n + U64(1)) * GAMMA)
    u = uniform(draws)
    z0, z1 = box_muller(u[0::2], u[1::2])
    out = np.empty(2 * pairs, dtype=np.float64)
    out[0::2] = z0
    out[1::2] = z1
    return out[:count]

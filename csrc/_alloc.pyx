# numpy's arrays through a caching allocator (csrc/_alloc.h says why and how).
#
# numpy (>= 1.22) lets a program replace the functions that allocate array data: a
# PyDataMem_Handler in a capsule named "mem_handler", installed with PyDataMem_SetHandler for
# the current context (each thread starts with numpy's default). Every array remembers the
# handler that allocated it and is freed through it, so installing or removing the handler
# at any time is safe.

from cpython.pycapsule cimport PyCapsule_New

cimport numpy as cnp

cnp.import_array()

cdef extern from "_alloc.h" nogil:
    ctypedef struct PyDataMem_Handler:
        pass
    PyDataMem_Handler tc_handler
    size_t tc_empty()
    void tc_stats(size_t* out)
    void tc_map_budget(long budget, long* out)
    void tc_before_fork()
    void tc_after_fork_parent()
    void tc_after_fork_child()

cdef extern from "pthread.h" nogil:
    int pthread_atfork(void (*prepare)(), void (*parent)(), void (*child)())

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)
    object PyDataMem_GetHandler()

pthread_atfork(tc_before_fork, tc_after_fork_parent, tc_after_fork_child)

#: the capsule numpy wants; one for the life of the process (arrays keep a reference)
handler = PyCapsule_New(&tc_handler, "mem_handler", NULL)


def install():
    """Allocate this thread's (context's) new numpy arrays through the cache; returns the
    handler that was in place."""
    return PyDataMem_SetHandler(handler)


def restore(previous):
    """Put back a handler returned by install()."""
    return PyDataMem_SetHandler(previous)


def empty():
    """Give every cached block back to the C library; returns the bytes released."""
    return tc_empty()


def stats():
    """(hits, misses, cached bytes, cached blocks, smallest cached size, live bytes, peak
    live bytes, recycled, fresh bytes) so far. A hit needed no fresh memory, a miss some;
    recycled counts the hits that split a larger block or moved pages of smaller ones; fresh
    bytes were asked of the system. Live and peak count only blocks of the cached sizes."""
    cdef size_t out[9]
    tc_stats(out)
    return tuple(out[i] for i in range(9))


def map_budget(budget=-1):
    """(pieces beyond one per block in live and cached blocks, their budget, requests served
    with one fresh mapping because assembling would pass the budget). A budget >= 0 replaces
    the current one (for tests; the default keeps the process well under vm.max_map_count)."""
    cdef long out[3]
    tc_map_budget(budget, out)
    return out[0], out[1], out[2]

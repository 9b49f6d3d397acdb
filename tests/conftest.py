import os, pytest
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
def _cupy_usable():
    try:
        import cupy; return bool(cupy.is_available())
    except Exception: return False
@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.skipif(not _cupy_usable(), reason="CuPy with a usable GPU not available"))])
def backend(request):
    from lrp_studio import backend as b
    previous = b._xp
    xp = b.set_backend(request.param)
    yield xp
    b._xp = previous

"""mx.image gives what MXNet 1.9.1's does: decoding (Pillow here, OpenCV there), resizing
(distmod's NumPy rendering of OpenCV's cv::resize), crops, normalisation, the augmenters and
ImageIter, on the images of tests/fixtures/recordio/ (see tests/test_recordio.py and the
README there; MXNet's outputs are in expect.npz)."""
import builtins
import doctest
import importlib.util
import json
import os
import random

import numpy as np
import pytest

import distmod as mx

pytest.importorskip('PIL')

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, 'fixtures', 'recordio')


def _generator():
    spec = importlib.util.spec_from_file_location(
        'make_recordio_fixtures', os.path.join(HERE, 'fixtures', 'make_recordio_fixtures.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()
with open(os.path.join(FIX, 'expect.json')) as _f:
    EXPECT = json.load(_f)
ARRAYS = np.load(os.path.join(FIX, 'expect.npz'))
ITER = {c['name']: c for c in GEN.IMAGEITER_CASES}
FUNCS = sorted(k[len('image/'):] for k in ARRAYS.files if k.startswith('image/'))


@pytest.fixture(scope='module')
def ours():
    return GEN.run_image_functions(mx, FIX)


def test_every_function_output_of_mxnet_is_replayed(ours):
    assert sorted(ours) == FUNCS
    assert len([k for k in FUNCS if k.startswith('imresize/')]) == \
        2 * len(GEN.IMRESIZE_SIZES) * 5


@pytest.mark.parametrize('key', FUNCS)
def test_image_function_matches_mxnet(ours, key):
    want = ARRAYS['image/' + key]
    got = np.asarray(ours[key])
    if want.dtype == np.uint8 and got.dtype != np.uint8:
        want = want.astype(got.dtype)
    assert got.shape == want.shape, key
    if key.startswith('color_normalize'):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_decoded_images_are_the_source_pixels_up_to_jpeg_loss():
    for i, (folder, name, h, w) in enumerate(GEN.IMAGES):
        img = mx.image.imread(os.path.join(FIX, 'images', folder, name))
        assert img.shape == (h, w, 3) and img.dtype == np.uint8
        diff = np.abs(img.asnumpy().astype(int) - GEN.image_pixels(i, h, w))
        assert diff.max() == 0 if name.endswith('.png') else diff.mean() < 20, name


def test_imdecode_takes_numpy_and_ndarray_buffers_and_refuses_str():
    with open(os.path.join(FIX, 'images', 'dog', 'd0.png'), 'rb') as f:
        buf = f.read()
    a = mx.image.imdecode(buf).asnumpy()
    np.testing.assert_array_equal(mx.image.imdecode(np.frombuffer(buf, np.uint8)).asnumpy(), a)
    nd = mx.nd.array(np.frombuffer(buf, np.uint8), dtype='uint8')
    np.testing.assert_array_equal(mx.image.imdecode(nd).asnumpy(), a)
    with pytest.raises(ValueError, match='convert to bytes'):
        mx.image.imdecode('not bytes')
    with pytest.raises(mx.MXNetError, match='cannot decode the image'):
        mx.image.imdecode(b'garbage')


def test_scale_down_and_interp_methods():
    assert mx.image.scale_down((640, 480), (720, 120)) == (640, 106)
    assert mx.image.scale_down((10, 20), (30, 30)) == (10, 10)
    from distmod.image import _get_interp_method
    assert _get_interp_method(9, (10, 10, 20, 20)) == 2
    assert _get_interp_method(9, (10, 10, 5, 5)) == 3
    assert _get_interp_method(9, (10, 10, 5, 20)) == 1
    assert _get_interp_method(10) in range(5)
    with pytest.raises(ValueError):
        _get_interp_method(7)


def _img(h=20, w=30):
    return mx.nd.array(GEN.image_pixels(0, h, w), dtype='uint8')


def test_crops_and_augmenters_follow_pythons_random():
    img = _img()
    random.seed(3)
    out, (x0, y0, w, h) = mx.image.random_crop(img, (10, 8))
    random.seed(3)
    assert (random.randint(0, 20), random.randint(0, 12)) == (x0, y0)
    np.testing.assert_array_equal(out.asnumpy(), img.asnumpy()[y0:y0 + 8, x0:x0 + 10])
    out, rect = mx.image.center_crop(img, (10, 8))
    assert rect == (10, 6, 10, 8)
    flip = mx.image.HorizontalFlipAug(1.0)(img)
    np.testing.assert_array_equal(flip.asnumpy(), img.asnumpy()[:, ::-1])
    assert mx.image.HorizontalFlipAug(0.0)(img) is img
    assert mx.image.ForceResizeAug((7, 5))(img).shape == (5, 7, 3)
    assert mx.image.ResizeAug(10)(img).shape == (10, 15, 3)
    assert mx.image.CenterCropAug((6, 6))(img).shape == (6, 6, 3)
    assert mx.image.RandomCropAug((6, 6))(img).shape == (6, 6, 3)
    random.seed(0)
    assert mx.image.RandomSizedCropAug((6, 6), 0.3, (0.75, 1.33))(img).shape == (6, 6, 3)
    f = mx.image.CastAug()(img)
    assert f.dtype == np.float32
    norm = mx.image.ColorNormalizeAug(mx.nd.array([1, 2, 3]), mx.nd.array([2, 2, 2]))(f.copy())
    np.testing.assert_allclose(norm.asnumpy(), (f.asnumpy() - [1, 2, 3]) / 2, rtol=1e-6)
    for aug in (mx.image.BrightnessJitterAug(0.3), mx.image.ContrastJitterAug(0.3),
                mx.image.SaturationJitterAug(0.3), mx.image.HueJitterAug(0.3),
                mx.image.ColorJitterAug(0.1, 0.1, 0.1), mx.image.RandomGrayAug(1.0),
                mx.image.LightingAug(0.1, np.array([55.46, 4.794, 1.148]), np.eye(3))):
        out = aug(f.copy())
        assert out.shape == f.shape and out.dtype == np.float32, type(aug).__name__
    gray = mx.image.RandomGrayAug(1.0)(f).asnumpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], rtol=1e-6)
    assert json.loads(mx.image.ResizeAug(10).dumps()) == ['resizeaug', {'size': 10,
                                                                        'interp': 2}]


def test_create_augmenter_builds_mxnets_list():
    names = [type(a).__name__ for a in mx.image.CreateAugmenter(
        (3, 24, 24), resize=32, rand_crop=True, rand_mirror=True, mean=True, std=True,
        brightness=0.1, hue=0.1, pca_noise=0.1, rand_gray=0.2)]
    assert names == ['ResizeAug', 'RandomCropAug', 'HorizontalFlipAug', 'CastAug',
                     'ColorJitterAug', 'HueJitterAug', 'LightingAug', 'RandomGrayAug',
                     'ColorNormalizeAug']
    assert [type(a).__name__ for a in mx.image.CreateAugmenter((3, 8, 8), rand_crop=True,
                                                              rand_resize=True)] == \
        ['RandomSizedCropAug', 'CastAug']


def test_copy_make_border():
    img = _img(4, 5)
    out = mx.image.copyMakeBorder(img, 1, 2, 3, 4, value=9).asnumpy()
    assert out.shape == (7, 12, 3) and (out[0] == 9).all() and (out[:, :3] == 9).all()
    np.testing.assert_array_equal(out[1:5, 3:8], img.asnumpy())
    rep = mx.image.copyMakeBorder(img, 1, 1, 1, 1, type=1).asnumpy()
    np.testing.assert_array_equal(rep[0, 1:-1], img.asnumpy()[0])


@pytest.mark.parametrize('name', sorted(ITER))
def test_image_iter_matches_mxnet(name):
    got, arrays = GEN.run_imageiter_case(mx, ITER[name], FIX)
    got = json.loads(json.dumps(got))
    want = EXPECT['imageiter'][name]
    assert got['provide_data'] == want['provide_data']
    assert got['provide_label'] == want['provide_label']
    assert [[(b['label'], b['pad']) for b in e] for e in got['epochs']] == \
        [[(b['label'], b['pad']) for b in e] for e in want['epochs']], name
    for key, data in arrays.items():
        ref = ARRAYS['imageiter/%s/%s' % (name, key)].astype(np.float32)
        np.testing.assert_allclose(data.astype(np.float32), ref, rtol=1e-6, atol=1e-5,
                                   err_msg='%s %s' % (name, key))


def test_image_iter_shard_keeps_parts_as_its_num_parts_does():
    kw = GEN._paths(ITER['idx_part1_of2']['kwargs'], FIX)
    kw.pop('num_parts'), kw.pop('part_index')
    it = mx.image.ImageIter(**kw)
    whole = [b.label[0].asnumpy().tolist() for b in it]
    it.shard(2, 1)
    part = [(b.label[0].asnumpy().tolist(), b.pad) for b in it]
    want = EXPECT['imageiter']['idx_part1_of2']['epochs'][0]
    assert part == [(b['label'], b['pad']) for b in want]
    it.shard(3, 2, even=False)
    assert it.num_image == 2
    it.shard(1, 0)
    assert [b.label[0].asnumpy().tolist() for b in it] == whole
    # a .rec without an index is addressed by its record offsets
    plain = mx.image.ImageIter(batch_size=2, data_shape=(3, 16, 16),
                               path_imgrec=os.path.join(FIX, 'passthrough.rec'))
    plain.shard(2, 0)
    assert [b.label[0].asnumpy().tolist() for b in plain] == [[0, 0], [0, 0]]


def test_missing_pillow_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == 'PIL' or name.startswith('PIL.'):
            raise ImportError('No module named PIL')
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_pil)
    with pytest.raises(mx.MXNetError, match=r"pip install 'distmod\[image\]'"):
        mx.image.imdecode(b'\x89PNG')
    with pytest.raises(mx.MXNetError, match=r"pip install 'distmod\[image\]'"):
        mx.recordio.pack_img((0, 0, 0, 0), np.zeros((2, 2, 3), np.uint8))


def test_image_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    tests = [t for t in finder.find(mx.image, 'mx.image', globs={'mx': mx, 'np': np})
             if t.examples]
    assert len(tests) >= 5
    for t in tests:
        assert runner.run(t).failed == 0, t.name


@pytest.mark.parametrize('interp', range(5))
def test_a_region_of_a_resize_is_that_crop_of_the_whole(interp):
    """ImageRecordIter resizes only the crop it keeps: the same pixels as the whole resize
    cropped (every method, enlarging and shrinking, whole and fractional factors)."""
    from distmod.image import resize_array
    rng = np.random.default_rng(interp)
    for i, (h, w) in enumerate([(20, 30), (33, 25), (40, 40)]):
        src = GEN.image_pixels(i, h, w)
        for dw, dh in [(17, 13), (45, 50), (20, 20), (15, 10)]:
            whole = resize_array(src, dw, dh, interp)
            for _ in range(3):
                rh, rw = int(rng.integers(1, dh + 1)), int(rng.integers(1, dw + 1))
                y0, x0 = int(rng.integers(0, dh - rh + 1)), int(rng.integers(0, dw - rw + 1))
                part = resize_array(src, dw, dh, interp, region=(y0, x0, rh, rw))
                np.testing.assert_array_equal(part, whole[y0:y0 + rh, x0:x0 + rw])
    with pytest.raises(mx.MXNetError, match='not inside'):
        resize_array(src, 10, 10, interp, region=(5, 5, 6, 6))

"""A picture of your own through `mnist37 predict` (issue 15): prepared as MNIST made its digits, shown with --show.

The pictures are made from validation digits by `mnist37.prepare.user_style`, seeded, and saved as files a user would
have: PNGs, and JPEGs for the photos.
"""
import json
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image, ImageOps
from conftest import mnist37
from mnist37.prepare import USER_STYLES, user_style, centre_of_mass, mnist_style, MNIST_CENTRE
from mnist37.data import load_mnist_sample

def run_on(data, env, out):
    r = mnist37('train', '--data', data, '--out', out, env=env)
    assert r.returncode == 0, r.stderr
    return out

def user_pictures(data, folder, n=50, seed=0):
    "`n` validation digits of each style, spread evenly through the validation set, saved in `folder`; their digits."
    _, _, valid_x, valid_y = load_mnist_sample(data, cache_dir=False)
    rng, picks = np.random.default_rng(seed), list(range(3, len(valid_x), len(valid_x)//n))[:n]
    folder.mkdir()
    files = {s: [] for s in USER_STYLES}
    for s in USER_STYLES:
        for i in picks:
            im = user_style(valid_x[i], s, rng)
            files[s].append(folder/f'{s}-{i}.{"jpg" if s == "photo" else "png"}')
            im.save(files[s][-1], quality=90)
    return files, [3 if valid_y[i] == 1 else 7 for i in picks]

def predicted(run, files, env):
    r = mnist37('predict', run, *files, '--json', env=env)
    assert r.returncode == 0, r.stderr
    return [o['digit'] for o in json.loads(r.stdout)]

@pytest.fixture(scope='module')
def real_run(tmp_path_factory, shared_cache):
    from conftest import offline, real_sample_tgz
    tgz = real_sample_tgz()
    if tgz is None: pytest.skip('no MNIST_SAMPLE archive here (set MNIST37_DATA to one)')
    tmp = tmp_path_factory.mktemp('real')
    env = offline(shared_cache, tmp/'fastai')
    from mnist37.sources import find_mnist_sample
    data = find_mnist_sample(tgz, cache_dir=shared_cache).path
    return run_on(tgz, env, tmp/'run'), data, env, tmp

def test_users_pictures_are_right_nine_times_in_ten(real_run):
    run, data, env, tmp = real_run
    files, digits = user_pictures(data, tmp/'pictures')
    for style in USER_STYLES:
        right = sum(p == d for p, d in zip(predicted(run, files[style], env), digits))
        print(f'{style}: {right}/50')
        assert right >= 45, (style, right)

def test_mnist_own_digits_are_as_accurate_as_before(real_run):
    "Every MNIST_SAMPLE validation image is used as it is: predict says what the model says of the data set's tensors."
    from mnist37.checkpoint import KINDS, load_model
    run, data, env, _ = real_run
    files = sorted((data/'valid'/'3').iterdir()) + sorted((data/'valid'/'7').iterdir())  # load_mnist_sample's order
    _, _, valid_x, valid_y = load_mnist_sample(data, cache_dir=False)
    kind, params, _ = load_model(run)
    with torch.no_grad(): from_tensors = [3 if s > 0 else 7 for s in KINDS[kind].model(params)(valid_x).view(-1)]
    assert predicted(run, files, env) == from_tensors
    assert np.mean([d == (3 if y == 1 else 7) for d, y in zip(from_tensors, valid_y.view(-1))]) >= 0.96

def test_no_digit_is_one_line_and_exit_1(trained_on_embedded, tmp_path):
    run, env = trained_on_embedded
    for name, im in [('white.png', Image.new('L', (300, 200), 255)), ('black.jpg', Image.new('RGB', (64, 64))),
                     ('lamp.png', Image.fromarray(np.uint8(np.linspace(90, 230, 200)[None].repeat(150, 0))))]:
        im.save(tmp_path/name)
        r = mnist37('predict', run, tmp_path/name, env=env)
        assert r.returncode == 1 and r.stdout == '', r.stdout
        assert r.stderr.strip() == (f'mnist37: error: no digit found in {tmp_path/name}: nothing in it is darker or lighter '
                                    'than its background; give a picture of one digit, with the ink clearly darker '
                                    '(or lighter) than the paper')

@pytest.fixture(scope='module')
def trained_on_embedded(tmp_path_factory, shared_cache):
    from conftest import offline
    tmp = tmp_path_factory.mktemp('embedded')
    env = offline(shared_cache, tmp/'fastai')
    r = mnist37('train', '--out', tmp/'run', env=env)
    assert r.returncode == 0, r.stderr
    return tmp/'run', env

def test_show_saves_each_picture_next_to_what_the_model_saw(trained_on_embedded, tmp_path):
    run, env = trained_on_embedded
    data = Path(env['MNIST37_CACHE'])/'embedded'/'mnist_sample'
    x = np.asarray(Image.open(sorted((data/'valid'/'7').iterdir())[0]), dtype=np.float32)/255
    pics = [user_style(x, s, np.random.default_rng(1)) for s in USER_STYLES]
    for s, im in zip(USER_STYLES, pics): im.save(tmp_path/f'{s}.png')
    files = [tmp_path/f'{s}.png' for s in USER_STYLES]
    r = mnist37('predict', run, *files, '--show', tmp_path/'seen.png', env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == f"saved {tmp_path/'seen.png'}: each image next to the 28x28 the model saw"
    with Image.open(tmp_path/'seen.png') as im: assert im.format == 'PNG' and im.width > im.height > 100
    r = mnist37('predict', run, *files, '--json', '--show', tmp_path/'seen2.png', env=env)
    assert len(json.loads(r.stdout)) == 3 and (tmp_path/'seen2.png').is_file()  # --json output stays pure JSON
    r = mnist37('predict', run, files[0], '--show', tmp_path/'nowhere'/'seen.png', env=env)
    assert r.returncode == 1 and 'folder' in r.stderr and 'does not exist' in r.stderr

def test_ten_digit_model_uses_the_same_preparation(tmp_path, shared_cache):
    "A ten-digit checkpoint (the shapes are all it needs here) predicts on a user's picture and on its negative alike."
    from conftest import offline
    from mnist37.checkpoint import KINDS, save_model
    env = offline(shared_cache, tmp_path/'fastai')
    params = KINDS['linear10'].init(torch.Generator().manual_seed(0))
    ck = save_model(tmp_path/'ten.pt', 'linear10', params, {})
    x = np.zeros((28, 28), np.float32); x[6:22, 12:16] = 1  # a "1"
    im = user_style(x, 'photo', np.random.default_rng(2))
    im.save(tmp_path/'one.jpg', quality=95); ImageOps.invert(im).save(tmp_path/'negative.png')
    out = json.loads(mnist37('predict', ck, tmp_path/'one.jpg', tmp_path/'negative.png', '--json', env=env).stdout)
    assert out[0]['digit'] == out[1]['digit'] and abs(out[0]['p'] - out[1]['p']) < 0.05

def test_recipe_on_synthetic_shapes():
    "Each step's promise on shapes whose answer is known: centre of mass, aspect ratio, either way round, any lighting."
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(10, 150, 2)
        page = np.full((h + 200, w + 200), 230, np.uint8)
        r0, c0 = rng.integers(0, 200, 2)
        page[r0:r0+h, c0:c0+w] = 30  # a dark rectangle somewhere on light paper
        light = np.linspace(0.6, 1.0, page.shape[1])[None]  # lit from the right
        pic = Image.fromarray(np.uint8(page*light))
        x = mnist_style(pic)
        assert np.allclose(centre_of_mass(x), (MNIST_CENTRE, MNIST_CENTRE), atol=0.5)
        rows, cols = np.flatnonzero((x > 0.5).any(1)), np.flatnonzero((x > 0.5).any(0))
        want = (round(20*h/max(h, w)), round(20*w/max(h, w)))  # the longer side 20, the aspect ratio kept
        assert abs(len(rows) - want[0]) <= 1 and abs(len(cols) - want[1]) <= 1, ((h, w), (len(rows), len(cols)))
        assert np.allclose(mnist_style(ImageOps.invert(pic)), x, atol=1e-6)

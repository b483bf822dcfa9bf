"""Tests of tinyconv.models: every model builds and runs, and matches the same network written in
PyTorch (below, from the papers and torchvision's layout): state_dict keys, parameter shapes and
counts, and for several models the outputs (eval mode) and gradients (train mode) after copying
tinyconv's weights into the PyTorch network.
"""

from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import models, nn


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch (the test oracle) is not installed")


def rand(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def copy_into_torch(torch, ours, theirs):
    """Load our state_dict into the torch module (strict: the keys must agree)."""
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            ours.state_dict().items()})


# ------------------------------------------------------------------ PyTorch references
def torch_lenet5(tnn, num_classes=10, in_channels=1, flat=16 * 5 * 5, c3_pad=0, classic=False):
    act = tnn.Tanh if classic else tnn.ReLU
    pool = tnn.AvgPool2d if classic else tnn.MaxPool2d

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(OrderedDict([
                ("c1", tnn.Conv2d(in_channels, 6, 5, padding=2)), ("act1", act()),
                ("s2", pool(2)), ("c3", tnn.Conv2d(6, 16, 5, padding=c3_pad)), ("act3", act()),
                ("s4", pool(2))]))
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Sequential(OrderedDict([
                ("c5", tnn.Linear(flat, 120)), ("act5", act()), ("f6", tnn.Linear(120, 84)),
                ("act6", act()), ("output", tnn.Linear(84, num_classes))]))

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))

    return LeNet5()


def torch_simple_convnet(tnn, num_classes=10, in_channels=1, flat=30 * 12 * 12):
    return tnn.Sequential(OrderedDict([
        ("conv1", tnn.Conv2d(in_channels, 30, 5)), ("relu1", tnn.ReLU()),
        ("pool1", tnn.MaxPool2d(2, 2)), ("flatten", tnn.Flatten()),
        ("affine1", tnn.Linear(flat, 100)), ("relu2", tnn.ReLU()),
        ("affine2", tnn.Linear(100, num_classes))]))


def torch_alexnet(tnn, num_classes, in_channels, widths, hidden, imagenet=False):
    c1, c2, c3, c4, c5 = widths
    k1, s1, pp = (11, 4, 0) if imagenet else (5, 1, 1)

    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)
            self.features = tnn.Sequential(
                tnn.Conv2d(in_channels, c1, k1, s1, 2), tnn.ReLU(), tnn.LocalResponseNorm(**lrn),
                tnn.MaxPool2d(3, 2, pp), tnn.Conv2d(c1, c2, 5, padding=2), tnn.ReLU(),
                tnn.LocalResponseNorm(**lrn), tnn.MaxPool2d(3, 2, pp),
                tnn.Conv2d(c2, c3, 3, padding=1), tnn.ReLU(), tnn.Conv2d(c3, c4, 3, padding=1),
                tnn.ReLU(), tnn.Conv2d(c4, c5, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2, pp))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6)) if imagenet else tnn.Identity()
            self.classifier = tnn.Sequential(
                tnn.Dropout(), tnn.Linear(c5 * (36 if imagenet else 16), hidden), tnn.ReLU(),
                tnn.Dropout(), tnn.Linear(hidden, hidden), tnn.ReLU(),
                tnn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return AlexNet()


def torch_vgg(tnn, cfg, num_classes, in_channels, batch_norm, layout, hidden, flat):
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(tnn.MaxPool2d(2, 2))
        else:
            layers.append(tnn.Conv2d(c, v, 3, padding=1))
            if batch_norm:
                layers.append(tnn.BatchNorm2d(v))
            layers.append(tnn.ReLU(inplace=True))
            c = v

    class VGG(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(*layers)
            if layout == "imagenet":
                self.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
                self.classifier = tnn.Sequential(
                    tnn.Linear(c * 49, hidden), tnn.ReLU(True), tnn.Dropout(),
                    tnn.Linear(hidden, hidden), tnn.ReLU(True), tnn.Dropout(),
                    tnn.Linear(hidden, num_classes))
            else:
                self.avgpool = tnn.Identity()
                self.classifier = tnn.Sequential(
                    tnn.Linear(flat, hidden), tnn.ReLU(True), tnn.Dropout(),
                    tnn.Linear(hidden, num_classes)) if hidden else \
                    tnn.Sequential(tnn.Linear(flat, num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return VGG()


def torch_resnet(torch, block_kind, layers, num_classes, in_channels, width, imagenet):
    tnn = torch.nn
    expansion = 4 if block_kind == "bottleneck" else 1

    class Basic(tnn.Module):
        def __init__(self, inp, planes, stride, down):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU(inplace=True)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = down

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Bottle(tnn.Module):
        def __init__(self, inp, planes, stride, down):
            super().__init__()
            self.conv1 = tnn.Conv2d(inp, planes, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(planes * 4)
            self.relu = tnn.ReLU(inplace=True)
            self.downsample = down

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    block = Bottle if block_kind == "bottleneck" else Basic

    class ResNet(tnn.Module):
        def __init__(self):
            super().__init__()
            if imagenet:
                self.conv1 = tnn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            else:
                self.conv1 = tnn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(width)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(3, 2, 1) if imagenet else tnn.Identity()
            inp = width
            self.stages = []
            for i, n in enumerate(layers):
                planes, stride = width * 2 ** i, 1 if i == 0 else 2
                blocks = []
                for b in range(n):
                    s = stride if b == 0 else 1
                    down = None
                    if s != 1 or inp != planes * expansion:
                        down = tnn.Sequential(tnn.Conv2d(inp, planes * expansion, 1, s,
                                                         bias=False),
                                              tnn.BatchNorm2d(planes * expansion))
                    blocks.append(block(inp, planes, s, down))
                    inp = planes * expansion
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
                self.stages.append(f"layer{i + 1}")
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(inp, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for s in self.stages:
                x = getattr(self, s)(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def torch_googlenet(torch, num_classes, in_channels, w, imagenet=False):
    tnn = torch.nn

    class Conv(tnn.Module):
        def __init__(self, cin, cout, k, stride=1, padding=0):
            super().__init__()
            self.conv = tnn.Conv2d(cin, cout, k, stride, padding, bias=False)
            self.bn = tnn.BatchNorm2d(cout, eps=0.001)
            self.relu = tnn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.bn(self.conv(x)))

    class Inception(tnn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
            super().__init__()
            self.branch1 = Conv(cin, c1, 1)
            self.branch2 = tnn.Sequential(Conv(cin, c3r, 1), Conv(c3r, c3, 3, padding=1))
            self.branch3 = tnn.Sequential(Conv(cin, c5r, 1), Conv(c5r, c5, 5, padding=2))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1), Conv(cin, pp, 1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                              self.branch4(x)], 1)

    # Table 1 of Szegedy et al. (2014), scaled by w
    table = [("inception3a", (64, 96, 128, 16, 32, 32)),
             ("inception3b", (128, 128, 192, 32, 96, 64)), ("maxpool3", None),
             ("inception4a", (192, 96, 208, 16, 48, 64)),
             ("inception4b", (160, 112, 224, 24, 64, 64)),
             ("inception4c", (128, 128, 256, 24, 64, 64)),
             ("inception4d", (112, 144, 288, 32, 64, 64)),
             ("inception4e", (256, 160, 320, 32, 128, 128)), ("maxpool4", None),
             ("inception5a", (256, 160, 320, 32, 128, 128)),
             ("inception5b", (384, 192, 384, 48, 128, 128))]

    def s(c):
        return max(1, round(c * w))

    class GoogLeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            if imagenet:
                self.stem = tnn.Sequential(OrderedDict([
                    ("conv1", Conv(in_channels, s(64), 7, 2, 3)),
                    ("maxpool1", tnn.MaxPool2d(3, 2, 1)), ("conv2", Conv(s(64), s(64), 1)),
                    ("conv3", Conv(s(64), s(192), 3, padding=1)),
                    ("maxpool2", tnn.MaxPool2d(3, 2, 1))]))
            else:
                self.stem = tnn.Sequential(OrderedDict([
                    ("conv1", Conv(in_channels, s(192), 3, padding=1))]))
            blocks, c = [], s(192)
            for name, spec in table:
                if spec is None:
                    blocks.append((name, tnn.MaxPool2d(3, 2, 1)))
                else:
                    spec = [s(v) for v in spec]
                    blocks.append((name, Inception(c, *spec)))
                    c = spec[0] + spec[2] + spec[4] + spec[5]
            self.blocks = tnn.Sequential(OrderedDict(blocks))
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.dropout = tnn.Dropout(0.4)
            self.fc = tnn.Linear(c, num_classes)

        def forward(self, x):
            return self.fc(self.dropout(torch.flatten(self.avgpool(self.blocks(self.stem(x))),
                                                      1)))

    return GoogLeNet()


def torch_unet(torch, num_classes, in_channels, width, depth):
    tnn = torch.nn

    def double(cin, cout):
        return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False),
                              tnn.BatchNorm2d(cout), tnn.ReLU(inplace=True),
                              tnn.Conv2d(cout, cout, 3, padding=1, bias=False),
                              tnn.BatchNorm2d(cout), tnn.ReLU(inplace=True))

    class Up(tnn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = tnn.ConvTranspose2d(cin, cout, 2, stride=2)
            self.conv = double(2 * cout, cout)

        def forward(self, x, skip):
            x = self.up(x, output_size=list(skip.shape[-2:]))
            return self.conv(torch.cat([skip, x], 1))

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.inc = double(in_channels, width)
            self.downs = tnn.ModuleList(
                tnn.Sequential(OrderedDict([
                    ("pool", tnn.MaxPool2d(2)),
                    ("conv", double(width * 2 ** i, width * 2 ** (i + 1)))]))
                for i in range(depth))
            self.ups = tnn.ModuleList(Up(width * 2 ** (i + 1), width * 2 ** i)
                                      for i in reversed(range(depth)))
            self.outc = tnn.Conv2d(width, num_classes, 1)

        def forward(self, x):
            x = self.inc(x)
            skips = []
            for d in self.downs:
                skips.append(x)
                x = d(x)
            for u, s in zip(self.ups, reversed(skips)):
                x = u(x, s)
            return self.outc(x)

    return UNet()


CIFAR_RESNETS = {"resnet8": 1, "resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9,
                 "resnet110": 18}
VGG_CFGS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}

# name -> (tinyconv builder, torch builder, input shape). Small widths keep this fast.
PAIRS = {
    "lenet5-28": (lambda: models.lenet5(),
                  lambda torch: torch_lenet5(torch.nn), (2, 1, 28, 28)),
    "lenet5-32-rgb-classic": (
        lambda: models.lenet5(num_classes=5, in_channels=3, input_size=32, classic=True),
        lambda torch: torch_lenet5(torch.nn, 5, 3, 16 * 6 * 6, classic=True), (2, 3, 32, 32)),
    "lenet5-8": (lambda: models.lenet5(input_size=8),
                 lambda torch: torch_lenet5(torch.nn, flat=16 * 2 * 2, c3_pad=2), (2, 1, 8, 8)),
    "simple_convnet": (lambda: models.simple_convnet(),
                       lambda torch: torch_simple_convnet(torch.nn), (2, 1, 28, 28)),
    "simple_convnet-8": (lambda: models.simple_convnet(num_classes=4, input_size=8),
                         lambda torch: torch_simple_convnet(torch.nn, 4, 1, 30 * 2 * 2),
                         (2, 1, 8, 8)),
    "alexnet": (lambda: models.alexnet(width_mult=0.125),
                lambda torch: torch_alexnet(torch.nn, 10, 3, (8, 24, 48, 32, 32), 128),
                (2, 3, 32, 32)),
    "alexnet-imagenet": (
        lambda: models.alexnet(num_classes=7, in_channels=1, input_size=128, width_mult=0.0625,
                               hidden_features=32),
        lambda torch: torch_alexnet(torch.nn, 7, 1, (4, 12, 24, 16, 16), 32, imagenet=True),
        (1, 1, 128, 128)),
    "vgg11_bn": (lambda: models.vgg11(batch_norm=True, width_mult=0.125),
                 lambda torch: torch_vgg(torch.nn, [8, "M", 16, "M", 32, 32, "M", 64, 64, "M",
                                                    64, 64, "M"], 10, 3, True, "cifar", 64, 64),
                 (2, 3, 32, 32)),
    "vgg16-imagenet": (
        lambda: models.vgg16(in_channels=1, input_size=64, layout="imagenet", width_mult=0.0625),
        lambda torch: torch_vgg(torch.nn, [4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32,
                                           "M", 32, 32, 32, "M"], 10, 1, False, "imagenet", 256,
                                None), (1, 1, 64, 64)),
    "small_vgg": (lambda: models.small_vgg(),
                  lambda torch: torch_vgg(torch.nn, [32, 32, "M", 64, 64, "M", 128, 128, "M"],
                                          10, 3, True, "cifar", 0, 128 * 16), (2, 3, 32, 32)),
    "googlenet": (lambda: models.googlenet(width_mult=0.125),
                  lambda torch: torch_googlenet(torch, 10, 3, 0.125), (2, 3, 16, 16)),
    "googlenet-imagenet": (
        lambda: models.GoogLeNet(3, 2, layout="imagenet", input_size=64, width_mult=0.0625),
        lambda torch: torch_googlenet(torch, 3, 2, 0.0625, imagenet=True), (1, 2, 64, 64)),
    "resnet8": (lambda: models.resnet8(),
                lambda torch: torch_resnet(torch, "basic", [1, 1, 1], 10, 3, 16, False),
                (2, 3, 16, 16)),
    "resnet20-digits": (lambda: models.resnet20(num_classes=10, in_channels=1, input_size=8),
                        lambda torch: torch_resnet(torch, "basic", [3, 3, 3], 10, 1, 16, False),
                        (2, 1, 8, 8)),
    "resnet18-imagenet": (
        lambda: models.resnet18(num_classes=5, width=8),
        lambda torch: torch_resnet(torch, "basic", [2, 2, 2, 2], 5, 3, 8, True), (1, 3, 64, 64)),
    "resnet34-cifar": (lambda: models.resnet34(input_size=32, width=4),
                       lambda torch: torch_resnet(torch, "basic", [3, 4, 6, 3], 10, 3, 4, False),
                       (1, 3, 16, 16)),
    "resnet50-imagenet": (
        lambda: models.resnet50(width=4, layout="imagenet", input_size=32),
        lambda torch: torch_resnet(torch, "bottleneck", [3, 4, 6, 3], 10, 3, 4, True),
        (1, 3, 32, 32)),
    "unet": (lambda: models.unet(num_classes=3, in_channels=2, input_size=20, width=4),
             lambda torch: torch_unet(torch, 3, 2, 4, 3), (2, 2, 20, 20)),
    "unet-odd": (lambda: models.unet(num_classes=2, in_channels=1, input_size=(13, 11), width=2,
                                     depth=2),
                 lambda torch: torch_unet(torch, 2, 1, 2, 2), (1, 1, 13, 11)),
}

# outputs compared in eval mode after copying weights (the rest: keys and shapes only)
OUTPUT_PAIRS = ["lenet5-28", "lenet5-32-rgb-classic", "lenet5-8", "simple_convnet", "alexnet",
                "alexnet-imagenet", "vgg11_bn", "vgg16-imagenet", "small_vgg", "googlenet",
                "googlenet-imagenet", "resnet8", "resnet18-imagenet", "resnet50-imagenet",
                "unet", "unet-odd"]


@pytest.mark.parametrize("key", list(PAIRS))
def test_state_dict_keys_and_shapes_match_torch_definition(key, torch):
    build, tbuild, _ = PAIRS[key]
    ours, theirs = build(), tbuild(torch)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for k, v in ours_sd.items():
        assert v.shape == tuple(theirs_sd[k].shape), k
    assert tc.num_parameters(ours) == sum(p.numel() for p in theirs.parameters())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("key", OUTPUT_PAIRS)
def test_eval_output_matches_torch(key, torch):
    build, tbuild, shape = PAIRS[key]
    tc.manual_seed(0)
    ours, theirs = build(), tbuild(torch)
    # BatchNorm running statistics that are not 0 and 1 make eval mode a real test
    for name, buf in ours.named_buffers():
        if name.endswith("running_mean"):
            buf.data[...] = rand(buf.shape, seed=len(name)) * 0.1
        elif name.endswith("running_var"):
            buf.data[...] = 1 + 0.5 * np.abs(rand(buf.shape, seed=len(name) + 1))
    copy_into_torch(torch, ours, theirs)
    ours.eval()
    theirs.eval()
    x = rand(shape, seed=3)
    with tc.no_grad():
        y = ours(tc.tensor(x)).numpy()
    with torch.no_grad():
        yt = theirs(torch.from_numpy(x)).numpy()
    assert y.shape == yt.shape
    scale = max(1.0, float(np.abs(yt).max()))
    np.testing.assert_allclose(y, yt, rtol=2e-4, atol=2e-5 * scale)


@pytest.mark.parametrize("key", ["resnet8", "unet-odd", "googlenet"])
def test_training_step_gradients_match_torch(key, torch):
    """Train mode (batch statistics) in float64: every parameter gradient as PyTorch's."""
    build, tbuild, shape = PAIRS[key]
    ours, theirs = build().double(), tbuild(torch).double()
    copy_into_torch(torch, ours, theirs)
    if key == "googlenet":  # dropout draws differ between the libraries
        ours.dropout.p = theirs.dropout.p = 0.0
    x = rand(shape, np.float64, seed=5)
    y = ours(tc.tensor(x))
    yt = theirs(torch.from_numpy(x))
    g = rand(y.shape, np.float64, seed=6)
    y.backward(tc.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-7,
                                   atol=1e-9, err_msg=name)


@pytest.mark.parametrize("build", [lambda: models.resnet8(num_classes=4),
                                   lambda: models.unet(num_classes=3, in_channels=1, width=4)],
                         ids=["resnet8", "unet"])
def test_backward_reaches_every_parameter(build):
    tc.manual_seed(1)
    model = build()
    cin = model.conv1.in_channels if hasattr(model, "conv1") else 1
    x = tc.randn(3, cin, 12, 12)
    out = model(x)
    loss = (out * tc.tensor(rand(out.shape, seed=2))).sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        assert np.isfinite(p.grad.numpy()).all(), name
        assert np.abs(p.grad.numpy()).max() > 0, name


def test_param_counts_of_known_models():
    # LeNet-5 (28x28, padded C1): 156 + 2,416 + 48,120 + 10,164 + 850
    assert tc.num_parameters(models.lenet5()) == 61_706
    # SimpleConvNet of the book: 780 + 432,100 + 1,010
    assert tc.num_parameters(models.simple_convnet()) == 433_890
    # CIFAR ResNet-20 has 0.27 M parameters with option A; option B adds two projections
    # (16*32 + 2*32 and 32*64 + 2*64 weights)
    assert tc.num_parameters(models.resnet20()) == 269_722 + 576 + 2_176
    # torchvision's ResNet-18 with 1000 classes
    assert tc.num_parameters(models.resnet18(num_classes=1000)) == 11_689_512


@pytest.mark.parametrize("name", models.list_models())
def test_every_registered_model_builds_from_the_command_line_arguments(name):
    """The CLI passes num_classes, in_channels and input_size: 8x8 digits and 32x32 RGB."""
    slim = {"alexnet": dict(width_mult=0.125), "googlenet": dict(width_mult=0.0625),
            "resnet18": dict(width=8), "resnet34": dict(width=4), "resnet50": dict(width=4),
            "unet": dict(width=4)}
    slim.update({n: dict(width_mult=0.0625) for n in models.list_models() if "vgg" in n
                 and n != "small_vgg"})
    kw = slim.get(name, {})
    for size, cin in ((8, 1), (32, 3)):
        if "vgg" in name and name != "small_vgg" and size < 32:
            with pytest.raises(ValueError, match=r"VGG: input_size \(8, 8\) is too small"):
                models.get_model(name, num_classes=10, in_channels=cin, input_size=size, **kw)
            continue
        model = models.get_model(name.upper() if size == 8 else name, num_classes=7,
                                 in_channels=cin, input_size=size, **kw)
        model.eval()
        with tc.no_grad():
            y = model(tc.randn(2, cin, size, size))
        expected = (2, 7, size, size) if name == "unet" else (2, 7)
        assert y.shape == expected
        assert y.dtype == np.float32
        assert np.isfinite(y.numpy()).all()


def test_registry_lists_the_required_names_and_tasks():
    names = models.list_models()
    for required in ["lenet5", "simple_convnet", "alexnet", "vgg11", "vgg13", "vgg16",
                     "small_vgg", "googlenet", "resnet8", "resnet20", "resnet32", "resnet56",
                     "resnet18", "resnet34", "resnet50", "unet"]:
        assert required in names
    assert names == sorted(names)
    assert models.list_models("segmentation") == ["unet"]
    assert "unet" not in models.list_models("classification")
    assert set(models.list_models("classification")) | {"unet"} == set(names)
    assert isinstance(models.get_model("vgg16_bn", width_mult=0.0625).features[1],
                      nn.BatchNorm2d)


def test_cifar_resnet_depth_is_6n_plus_2():
    for name, n in CIFAR_RESNETS.items():
        model = models.get_model(name)
        weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                    and not (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1))]
        assert len(weighted) == 6 * n + 2 == int(name[6:]), name
        assert [getattr(model, f"layer{i}")[0].conv1.out_channels for i in (1, 2, 3)] == \
            [16, 32, 64]


def test_layout_choice_and_float64():
    assert models.resnet18(input_size=224, width=4).layout == "imagenet"
    assert models.resnet18(input_size=32, width=4).layout == "cifar"
    assert isinstance(models.resnet18(input_size=32, width=4).maxpool, nn.Identity)
    assert models.vgg11(width_mult=0.0625).layout == "cifar"
    m = models.resnet8(num_classes=3).double()
    assert m(tc.randn(2, 3, 8, 8, dtype=tc.float64)).dtype == np.float64


def test_zero_init_residual_starts_blocks_as_identity():
    m = models.resnet8(zero_init_residual=True)
    assert all(np.all(b.bn2.weight.numpy() == 0) for b in (m.layer1[0], m.layer2[0]))
    m = models.resnet50(width=4, input_size=32, zero_init_residual=True)
    assert np.all(m.layer1[0].bn3.weight.numpy() == 0)


def test_inception_block_concatenates_branches():
    block = models.InceptionBlock(5, 2, 3, 4, 1, 3, 2)
    assert block.out_channels == 11
    assert block.branch3[1].conv.kernel_size == (5, 5)
    y = block.eval()(tc.randn(2, 5, 6, 7))
    assert y.shape == (2, 11, 6, 7)


def test_lenet5_layout_is_documented_and_small_inputs_pad_c3():
    m = models.lenet5()
    assert isinstance(m.features.act1, nn.ReLU) and isinstance(m.features.s2, nn.MaxPool2d)
    assert m.features.c1.padding == (2, 2) and m.features.c3.padding == (0, 0)
    assert m.classifier.c5.in_features == 400
    small = models.lenet5(input_size=8)
    assert small.features.c3.padding == (2, 2) and small.classifier.c5.in_features == 64
    classic = models.lenet5(classic=True)
    assert isinstance(classic.features.act1, nn.Tanh)
    assert isinstance(classic.features.s2, nn.AvgPool2d)


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: models.get_model("resnet9"), ValueError,
     r"get_model: unknown model 'resnet9'; available: alexnet, googlenet, lenet5"),
    (lambda: models.get_model(3), TypeError, r"get_model: name must be a string, got int"),
    (lambda: models.list_models("detection"), ValueError,
     r"list_models: task must be None, 'classification' or 'segmentation', got 'detection'"),
    (lambda: models.lenet5(input_size=2), ValueError,
     r"LeNet5: input_size \(2, 2\) is too small: S4 \(kernel_size 2, stride 2, padding 0\) "
     r"gets a 1x1 input and would output 0x0"),
    (lambda: models.simple_convnet(input_size=(28, 4)), ValueError,
     r"SimpleConvNet: input_size \(28, 4\) is too small: conv1"),
    (lambda: models.vgg16(input_size=16), ValueError,
     r"VGG: input_size \(16, 16\) is too small: max-pool features.30"),
    (lambda: models.lenet5(input_size=0), ValueError, r"LeNet5: input_size must be positive"),
    (lambda: models.lenet5(input_size="28"), TypeError,
     r"LeNet5: input_size must be an int or a pair of ints \(H, W\), got '28'"),
    (lambda: models.lenet5(num_classes=0), ValueError, r"LeNet5: num_classes must be positive"),
    (lambda: models.resnet8(in_channels=1.5), TypeError, r"ResNet: in_channels must be an int"),
    (lambda: models.vgg11(width_mult=0), ValueError,
     r"VGG: width_mult must be a positive number, got 0"),
    (lambda: models.vgg11(layout="mobile"), ValueError,
     r"VGG: layout must be 'cifar', 'imagenet' or None, got 'mobile'"),
    (lambda: models.VGG("Z"), ValueError, r"VGG: unknown configuration 'Z'; known: A, B, D, E"),
    (lambda: models.VGG([64, "X"]), ValueError,
     r"VGG: cfg entries must be positive ints or 'M', got 'X' at position 1"),
    (lambda: models.ResNet(models.BasicBlock, []), ValueError,
     r"ResNet: layers must be a non-empty list of positive ints"),
    (lambda: models.ResNet(nn.Conv2d, [1]), TypeError, r"ResNet: block must be BasicBlock"),
    (lambda: models.unet(input_size=4), ValueError,
     r"UNet: input_size \(4, 4\) is too small: the max-pool of down3"),
    (lambda: models.unet(depth=0), ValueError, r"UNet: depth must be positive"),
    (lambda: models.alexnet(layout="imagenet", input_size=4), ValueError,
     r"AlexNet: input_size \(4, 4\) is too small: conv1"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()

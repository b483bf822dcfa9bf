"""Tests of tinyconv.summary: the table (shapes, parameters, multiply-adds, memory), receptive
fields against hand-computed values and against the support of input gradients, and the size
helpers (same_padding, num_parameters, conv_output_size, ...).
"""

import io

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import models, nn
from tinyconv.summary import (LayerSummary, ModelSummary, conv_output_size,
                              conv_transpose_output_size, num_parameters, pool_output_size,
                              same_padding, summary)


def rows_by_name(s):
    out = {}
    for r in s.layers:
        out.setdefault(r.name, r)
    return out


def test_lenet5_table_by_hand():
    s = summary(models.lenet5(), (1, 28, 28), verbose=False)
    assert isinstance(s, ModelSummary) and all(isinstance(r, LayerSummary) for r in s.layers)
    rows = rows_by_name(s)
    expect = {  # name: (output shape, params, mult-adds, rf, jump, start)
        "features.c1": ((1, 6, 28, 28), 6 * 25 + 6, 6 * 28 * 28 * 25, 5, 1, 0),
        "features.s2": ((1, 6, 14, 14), 0, 0, 6, 2, 0.5),
        "features.c3": ((1, 16, 10, 10), 16 * 150 + 16, 16 * 10 * 10 * 150, 14, 2, 4.5),
        "features.s4": ((1, 16, 5, 5), 0, 0, 16, 4, 5.5),
        # flattening makes the field the whole 5x5 map: C5 of the paper, centred on the image
        "flatten": ((1, 400), 0, 0, 32, 20, 13.5),
        "classifier.c5": ((1, 120), 400 * 120 + 120, 400 * 120, 32, 20, 13.5),
        "classifier.f6": ((1, 84), 120 * 84 + 84, 120 * 84, 32, 20, 13.5),
        "classifier.output": ((1, 10), 84 * 10 + 10, 84 * 10, 32, 20, 13.5),
    }
    for name, (shape, params, macs, rf, jump, start) in expect.items():
        r = rows[name]
        assert r.output_shape == shape, name
        assert r.num_params == r.trainable_params == params, name
        assert r.mult_adds == macs, name
        assert r.receptive_field == (rf, rf) and r.jump == (jump, jump), name
        assert r.start == (start, start), name
    assert [r.name for r in s.layers][:3] == ["features.c1", "features.act1", "features.s2"]
    assert len(s.layers) == 12
    assert s.total_params == s.trainable_params == 61_706 == sum(r.num_params for r in s.layers)
    assert s.total_mult_adds == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert s.input_shape == (1, 1, 28, 28) and s.output_shape == (1, 10)
    assert s.input_bytes == 28 * 28 * 4
    assert s.param_bytes == 61_706 * 4
    assert s.activation_bytes == 4 * sum(int(np.prod(r.output_shape)) for r in s.layers)


def test_vgg16_imagenet_receptive_fields():
    """VGG-16 on 224x224: 196 after conv5_3, 212 after pool5 (widths do not matter)."""
    model = models.VGG("D", layout="imagenet", input_size=224, width_mult=1 / 32,
                       hidden_features=8)
    s = summary(model, (3, 224, 224), verbose=False)
    convs = [r for r in s.layers if r.type == "Conv2d"]
    pools = [r for r in s.layers if r.type == "MaxPool2d"]
    assert [r.receptive_field[0] for r in convs] == [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132,
                                                     164, 196]
    assert [r.receptive_field[0] for r in pools] == [6, 16, 44, 100, 212]
    assert [r.jump[0] for r in pools] == [2, 4, 8, 16, 32]
    assert convs[-1].receptive_field == (196, 196) and convs[-1].jump == (16, 16)
    assert pools[-1].receptive_field == (212, 212) and pools[-1].output_shape[2:] == (7, 7)
    assert pools[-1].start == (15.5, 15.5)  # centre of the first 32x32 cell
    assert s.total_params == num_parameters(model)
    # mult-adds: output elements x input channels x 3 x 3
    cin = [3] + [r.output_shape[1] for r in convs[:-1]]
    assert [r.mult_adds for r in convs] == [int(np.prod(r.output_shape)) * c * 9
                                            for r, c in zip(convs, cin)]


def test_dilated_and_strided_stack_by_hand():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),                 # r 3, j 1
        nn.Conv2d(2, 2, 3, padding=2, dilation=2),     # k_eff 5: r 7
        nn.Conv2d(2, 2, 3, padding=4, dilation=4),     # k_eff 9: r 15
        nn.Conv2d(2, 2, 3, stride=2),                  # r 17, j 2, start 1
        nn.Conv2d(2, 2, (3, 1), padding=(2, 0), dilation=2),  # r 25 x 17
        nn.MaxPool2d(2, dilation=3),                   # k_eff 4: r 31 x 23, j 4
    )
    s = summary(model, (1, 40, 40), verbose=False)
    assert [r.receptive_field for r in s.layers] == [(3, 3), (7, 7), (15, 15), (17, 17),
                                                     (25, 17), (31, 23)]
    assert [r.jump for r in s.layers] == [(1, 1)] * 3 + [(2, 2)] * 2 + [(4, 4)]
    assert [r.start for r in s.layers] == [(0, 0)] * 3 + [(1, 1)] * 2 + [(4, 4)]


def _support(model, in_shape, out_index):
    """Input pixels that reach one output pixel: the support of its input gradient."""
    x = tc.ones(*in_shape, dtype=tc.float64, requires_grad=True)
    y = model(x)
    g = np.zeros(y.shape)
    g[(0, 0) + out_index] = 1
    y.backward(tc.tensor(g))
    nz = np.nonzero(np.abs(x.grad.numpy()[0]).sum(0))
    return [(int(a.min()), int(a.max())) for a in nz] if nz[0].size else []


@pytest.mark.parametrize("layers", [
    lambda: [nn.Conv2d(1, 2, 3, padding=1), nn.AvgPool2d(2), nn.Conv2d(2, 2, 5, stride=3,
                                                                       padding=1)],
    lambda: [nn.Conv2d(1, 2, 4, stride=2, padding=1), nn.Conv2d(2, 2, 3, dilation=3, padding=2),
             nn.AvgPool2d(3, stride=2, padding=1)],
    lambda: [nn.Conv2d(1, 2, (5, 3), padding=(0, 1)), nn.AvgPool2d((2, 3), stride=(2, 1)),
             nn.Conv2d(2, 2, 3, dilation=(1, 2))],
    lambda: [nn.Conv2d(1, 2, 3, padding="same", dilation=2), nn.Conv2d(2, 2, 4, padding="same")],
], ids=["conv-avg-strided", "even-kernel-dilated", "rectangular", "same"])
def test_receptive_field_is_the_support_of_the_input_gradient(layers):
    """Positive weights: the gradient reaches exactly the pixels in the predicted field."""
    model = nn.Sequential(*layers()).double()
    for p in model.parameters():
        p.data[...] = np.abs(p.data) + 0.1
    s = summary(model, (1, 41, 39), verbose=False)
    last = s.layers[-1]
    h, w = last.output_shape[2:]
    for oi in (h // 2, h // 2 + 1):
        for oj in (w // 2, w // 2 - 1):
            got = _support(model, (1, 1, 41, 39), (oi, oj))
            want = []
            for d, o in enumerate((oi, oj)):
                centre = last.start[d] + o * last.jump[d]
                half = (last.receptive_field[d] - 1) / 2
                want.append((int(centre - half), int(centre + half)))
            assert got == want, (oi, oj)


def test_transposed_convolution_field_counts_the_inputs_that_reach_an_output():
    for k, s_, d in [(2, 2, 1), (3, 2, 1), (4, 2, 1), (5, 3, 1), (3, 2, 2)]:
        model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1),
                              nn.ConvTranspose2d(1, 1, k, stride=s_, dilation=d)).double()
        for p in model.parameters():
            p.data[...] = 1.0
        row = summary(model, (1, 9, 9), verbose=False).layers[-1]
        mid = row.output_shape[2] // 2
        # (with k=3, s=2, d=2 odd outputs receive no input at all)
        supports = [_support(model, (1, 1, 9, 9), (o, o)) for o in range(mid, mid + s_)]
        widest = max(hi - lo + 1 for sup in supports if sup for lo, hi in sup)
        assert row.receptive_field[0] == widest, (k, s_, d)
        assert row.jump == (1 / s_, 1 / s_)


def test_branches_keep_the_largest_field():
    block = models.InceptionBlock(4, 2, 2, 3, 2, 3, 2)
    s = summary(block, (4, 10, 10), verbose=False)
    merged = s.layers[-1]
    assert merged.type == "InceptionBlock" and merged.output_shape == (1, 10, 10, 10)
    assert merged.receptive_field == (5, 5)  # the 5x5 branch
    assert merged.num_params == 0
    net = models.resnet8(num_classes=3)
    rows = summary(net, (3, 16, 16), verbose=False).layers
    # layer2.0: conv path 7 -> 9 -> 13, shortcut 1x1/2 on 7; the block's last ReLU sees 13
    relus = [r for r in rows if r.name == "layer2.0.relu"]
    assert [r.receptive_field[0] for r in relus] == [9, 13]
    short = next(r for r in rows if r.name == "layer2.0.downsample.0")
    assert short.receptive_field == (7, 7) and short.jump == (2, 2)
    fc = rows[-1]
    assert fc.name == "fc" and fc.receptive_field == (25 + 3 * 4, 25 + 3 * 4)


def test_unet_concatenation_follows_the_decoder_path():
    model = models.unet(num_classes=2, in_channels=1, input_size=16, width=2, depth=2)
    rows = rows_by_name(summary(model, (1, 16, 16), verbose=False))
    # encoder 3, 5 | pool 6 (j 2) | 10, 14 | pool 16 (j 4) | 24, 32 | up 32 (j 2) | 36, 40 ...
    assert rows["downs.1.conv.3"].receptive_field == (32, 32)
    assert rows["ups.0.up"].receptive_field == (32, 32) and rows["ups.0.up"].jump == (2, 2)
    assert rows["ups.0.conv.0"].receptive_field == (36, 36)  # max over skip (14) and up (32)
    assert rows["ups.1.up"].jump == (1, 1)
    assert rows["outc"].receptive_field == (44, 44)
    assert rows["outc"].output_shape == (1, 2, 16, 16)


def test_summary_leaves_the_model_as_it_was():
    model = models.resnet8(num_classes=3)
    model.train()
    model.layer1.eval()
    before = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    summary(model, (3, 8, 8), batch_size=4, verbose=False)
    assert model.training and model.bn1.training and not model.layer1[0].bn1.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert all(not m._forward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_counts_frozen_shared_and_batched():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv, nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    model[4].requires_grad_(False)
    s = summary(model, (2, 5, 5), batch_size=3, verbose=False)
    assert s.total_params == num_parameters(model) == 38 + 153
    assert s.trainable_params == num_parameters(model, trainable_only=True) == 38
    assert [r.num_params for r in s.layers] == [38, 0, 0, 0, 153]  # shared conv counted once
    assert [r.mult_adds for r in s.layers] == [3 * 50 * 18] * 1 + [0] + [3 * 50 * 18, 0, 3 * 150]
    assert s.layers[2].receptive_field == (5, 5)
    assert s.input_shape == (3, 2, 5, 5)


def test_mult_adds_of_grouped_and_transposed_convolutions():
    model = nn.Sequential(nn.Conv2d(4, 6, 3, groups=2),
                          nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2))
    s = summary(model, (4, 7, 7), verbose=False)
    assert s.layers[0].mult_adds == 6 * 5 * 5 * (2 * 9)     # out elements x (C_in/groups x k)
    assert s.layers[1].mult_adds == 6 * 5 * 5 * (2 * 4)     # in elements x (C_out/groups x k)
    assert s.layers[1].output_shape == (1, 4, 10, 10)


def test_printed_table_and_totals(capsys):
    s = summary(models.lenet5(), (1, 28, 28))
    printed = capsys.readouterr().out
    assert printed.strip() == str(s).strip()
    assert "Layer (type)" in printed and "features.c1 (Conv2d)" in printed
    assert "Total params: 61,706" in printed and "Trainable params: 61,706" in printed
    assert "Total mult-adds: 416,520 (0.42 M)" in printed
    assert "Forward activations:" in printed and "Params size: 0.24 MB" in printed
    assert repr(s) == "ModelSummary(LeNet5: 12 layers, 61,706 parameters, 416,520 mult-adds)"
    summary(models.lenet5(), (1, 28, 28), verbose=False)
    assert capsys.readouterr().out == ""
    buf = io.StringIO()
    summary(models.lenet5(), (1, 28, 28), file=buf)
    assert buf.getvalue() == printed
    rows = s.rows()
    assert rows[0]["name"] == "features.c1" and rows[0]["receptive_field"] == (5, 5)


def test_input_data_dtype_and_one_dimensional_input():
    model = nn.Sequential(nn.Conv1d(2, 3, 5, stride=2), nn.ReLU(), nn.MaxPool1d(2)).double()
    s = summary(model, (2, 30), verbose=False)
    assert s.layers[-1].receptive_field == (7,) and s.layers[-1].jump == (4,)
    assert s.input_bytes == 2 * 30 * 8  # float64 like the model's parameters
    s2 = summary(model, input_data=np.ones((5, 2, 30)), verbose=False)
    assert s2.input_shape == (5, 2, 30) and s2.output_shape == (5, 3, 6)


def test_adaptive_pooling_and_functional_flatten():
    model = models.vgg11(width_mult=1 / 16, input_size=64, layout="imagenet",
                         hidden_features=4)
    rows = rows_by_name(summary(model, (3, 64, 64), verbose=False))
    pool5 = rows["features.20"]
    assert pool5.output_shape[2:] == (2, 2) and pool5.receptive_field == (150, 150)
    # AdaptiveAvgPool2d 2 -> 7: windows [floor(2i/7), ceil(2(i+1)/7)), up to 2 inputs wide
    # (i = 3: [0, 2)), so the field grows by one jump of 32; the jump becomes 32 * 2/7
    avg = rows["avgpool"]
    assert avg.receptive_field == (182, 182)
    np.testing.assert_allclose(avg.jump, (64 / 7, 64 / 7))
    # x.flatten(1) inside forward: the classifier sees all 7x7 cells
    first = rows["classifier.0"]
    assert first.receptive_field[0] == round(182 + 6 * 64 / 7)


@pytest.mark.skipif(not hasattr(nn, "ZeroPad2d"), reason="nn.ZeroPad2d is not in this build")
def test_padding_layers_shift_the_start():
    model = nn.Sequential(nn.ZeroPad2d((1, 2, 3, 0)), nn.Conv2d(1, 1, 3))
    row = summary(model, (1, 8, 8), verbose=False).layers[-1]
    assert row.receptive_field == (3, 3) and row.start == (-2, 0)


@pytest.mark.skipif(not hasattr(nn, "Upsample"), reason="nn.Upsample is not in this build")
@pytest.mark.parametrize("mode, extra", [("nearest", 0), ("bilinear", 1)])
def test_upsampling_divides_the_jump(mode, extra):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2, mode=mode),
                          nn.Conv2d(1, 1, 3, padding=1)).double()
    for p in model.parameters():
        p.data[...] = 1.0
    up, last = summary(model, (1, 12, 12), verbose=False).layers[1:]
    assert up.jump == (0.5, 0.5) and up.receptive_field == (3 + extra,) * 2
    assert up.start == (-0.25, -0.25)  # output pixel 0 sits at input position -0.25
    assert last.receptive_field == (4 + extra,) * 2  # 3 + (3 - 1) * 0.5
    for o in (11, 12):
        (lo, hi), _ = _support(model, (1, 1, 12, 12), (o, o))
        assert hi - lo + 1 == last.receptive_field[0]


def test_same_padding_and_size_formulas():
    assert same_padding(3) == 1 and same_padding(5) == 2 and same_padding(3, dilation=2) == 2
    assert same_padding(4, dilation=2) == 3
    assert same_padding((3, 5)) == (1, 2) and same_padding(3, (1, 3)) == (1, 3)
    for k, d in [(3, 1), (5, 2), (7, 3), (4, 2)]:
        assert conv_output_size(17, k, 1, same_padding(k, d), d) == 17
    assert conv_output_size(28, 5) == 24 and conv_output_size(32, 3, 2, 1) == 16
    assert conv_transpose_output_size(7, 2, 2) == 14
    assert conv_transpose_output_size(7, 3, 2, 1, 1) == 14
    assert pool_output_size is tc.functional.pool_output_size
    assert tc.same_padding is same_padding and tc.num_parameters is num_parameters
    with pytest.raises(ValueError, match=r"same_padding: kernel_size 4 with dilation 1 needs 3 "
                                         r"pixels of padding, which cannot be split evenly"):
        same_padding(4)
    with pytest.raises(ValueError, match=r"same_padding: kernel_size must be positive, got 0"):
        same_padding(0)
    with pytest.raises(TypeError, match=r"same_padding: dilation must be an int"):
        same_padding(3, 1.5)
    with pytest.raises(ValueError, match=r"same_padding: kernel_size \(3, 3\) and dilation "
                                         r"\(1, 1, 1\) have different lengths"):
        same_padding((3, 3), (1, 1, 1))


def test_num_parameters_counts_shared_parameters_once():
    a = nn.Linear(3, 4)
    model = nn.Sequential(a, nn.ReLU(), a)
    assert num_parameters(model) == 16
    a.bias.requires_grad_(False)
    assert num_parameters(model, trainable_only=True) == 12
    with pytest.raises(TypeError, match=r"num_parameters: model must be a tinyconv.nn.Module, "
                                        r"got list"):
        num_parameters([a])


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: summary("lenet", (1, 28, 28)), TypeError,
     r"summary: model must be a tinyconv.nn.Module, got str"),
    (lambda: summary(nn.ReLU(), 28), TypeError,
     r"summary: input_size must be a tuple of ints \(one sample's shape without the batch "
     r"dimension, e.g. \(1, 28, 28\)\), got 28"),
    (lambda: summary(nn.ReLU(), (1, 0, 3)), ValueError,
     r"summary: input_size must be positive, got \(1, 0, 3\)"),
    (lambda: summary(nn.ReLU(), (1, 4, 4), batch_size=0), ValueError,
     r"summary: batch_size must be positive, got 0"),
    (lambda: summary(nn.ReLU(), input_data=np.ones(3)), ValueError,
     r"summary: the input must be a floating-point batch \(N, C, ...\), got shape \(3,\)"),
    (lambda: summary(models.lenet5(), (1, 20, 20), verbose=False), ValueError,
     r"linear"),
])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()

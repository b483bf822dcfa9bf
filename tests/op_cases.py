"""The op database: one row per case, driving the generic tests in test_ops.py.

A case names the functional op (looked up in ``tinyconv.nn.functional`` and, for the oracle, in
``torch.nn.functional``), the shapes of its tensor arguments (input first; weight and bias for
convolutions), and keyword arguments passed unchanged to both. Shapes are kept small so that the
finite-difference checks stay fast.
"""

from dataclasses import dataclass, field


@dataclass
class Case:
    op: str
    shapes: list  # shapes of tensor arguments, input first; None = argument omitted
    kwargs: dict = field(default_factory=dict)
    name: str = ""
    tuple_out: bool = False  # the op returns (output, indices)

    @property
    def id(self):
        return self.name or f"{self.op}-{'x'.join(map(str, self.shapes[0]))}"


CASES = [
    # ---- convolution
    Case("conv2d", [(2, 3, 7, 6), (4, 3, 3, 3), (4,)], {}, "conv2d-basic-odd"),
    Case("conv2d", [(1, 3, 7, 7), (4, 3, 2, 2), (4,)], {"stride": 3}, "conv2d-stride-gt-kernel"),
    Case("conv2d", [(2, 2, 8, 7), (3, 2, 3, 3), None], {"padding": 2, "dilation": 2},
         "conv2d-dilation-padding-nobias"),
    Case("conv2d", [(2, 4, 6, 6), (6, 2, 3, 3), (6,)], {"groups": 2, "stride": 2, "padding": 1},
         "conv2d-groups"),
    Case("conv2d", [(2, 4, 6, 5), (4, 1, 3, 3), (4,)], {"groups": 4, "padding": 1},
         "conv2d-depthwise"),
    Case("conv2d", [(2, 3, 6, 5), (2, 3, 1, 1), (2,)], {}, "conv2d-1x1"),
    Case("conv2d", [(2, 2, 6, 7), (3, 2, 2, 4), (3,)], {"padding": "same", "dilation": (1, 2)},
         "conv2d-same-asymmetric"),
    Case("conv2d", [(2, 2, 5, 5), (3, 2, 3, 3), (3,)], {"padding": "valid"}, "conv2d-valid"),
    Case("conv2d", [(2, 5, 5), (3, 2, 3, 3), (3,)], {"padding": (1, 0)}, "conv2d-unbatched"),
    Case("conv2d", [(1, 1, 9, 8), (2, 1, 5, 5), (2,)], {"padding": (2, 1), "stride": (1, 2)},
         "conv2d-batch1-anisotropic"),
    Case("conv1d", [(2, 3, 11), (4, 3, 3), (4,)], {"stride": 2, "padding": 1}, "conv1d"),
    Case("conv1d", [(2, 4, 9), (4, 2, 3), None], {"dilation": 3, "groups": 2, "padding": "same"},
         "conv1d-dilated-groups-same"),
    Case("conv3d", [(1, 2, 4, 5, 4), (3, 2, 2, 3, 2), (3,)], {"padding": 1, "stride": (1, 2, 1)},
         "conv3d"),
    Case("conv3d", [(2, 4, 3, 4, 3), (4, 2, 2, 2, 2), None], {"groups": 2, "dilation": (1, 2, 1)},
         "conv3d-groups-dilated"),
    Case("conv_transpose2d", [(2, 4, 4, 3), (4, 3, 3, 3), (3,)], {"stride": 2, "padding": 1,
                                                                 "output_padding": 1},
         "conv_transpose2d-stride2"),
    Case("conv_transpose2d", [(1, 4, 3, 3), (4, 2, 4, 4), (4,)], {"stride": 2, "padding": 1,
                                                                 "groups": 2},
         "conv_transpose2d-groups"),
    Case("conv_transpose2d", [(2, 2, 3, 4), (2, 3, 3, 2), None], {"dilation": 2, "stride": (1, 3)},
         "conv_transpose2d-dilated"),
    Case("conv_transpose1d", [(2, 3, 5), (3, 2, 4), (2,)], {"stride": 3, "padding": 1},
         "conv_transpose1d"),
    Case("conv_transpose3d", [(1, 2, 2, 3, 2), (2, 3, 2, 2, 3), (3,)], {"stride": 2},
         "conv_transpose3d"),
    # ---- max pooling
    Case("max_pool2d", [(2, 3, 7, 6)], {"kernel_size": 2}, "max_pool2d-2x2-odd"),
    Case("max_pool2d", [(2, 2, 7, 7)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "ceil_mode": True}, "max_pool2d-ceil-pad"),
    Case("max_pool2d", [(1, 2, 8, 7)], {"kernel_size": 2, "stride": 3}, "max_pool2d-stride-gt-k"),
    Case("max_pool2d", [(2, 2, 9, 9)], {"kernel_size": 3, "dilation": 2, "padding": 1},
         "max_pool2d-dilated"),
    Case("max_pool2d", [(2, 6, 6)], {"kernel_size": 2, "return_indices": True},
         "max_pool2d-unbatched-indices", tuple_out=True),
    Case("max_pool1d", [(2, 3, 10)], {"kernel_size": 4, "stride": 3, "padding": 2,
                                      "ceil_mode": True}, "max_pool1d-ceil"),
    Case("max_pool3d", [(1, 2, 5, 4, 5)], {"kernel_size": 2, "stride": (1, 2, 2),
                                           "ceil_mode": True}, "max_pool3d"),
    # ---- average pooling
    Case("avg_pool2d", [(2, 3, 7, 6)], {"kernel_size": 2}, "avg_pool2d-2x2"),
    Case("avg_pool2d", [(2, 2, 7, 7)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "ceil_mode": True}, "avg_pool2d-ceil-pad-include"),
    Case("avg_pool2d", [(2, 2, 6, 7)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "ceil_mode": True, "count_include_pad": False},
         "avg_pool2d-ceil-pad-exclude"),
    Case("avg_pool2d", [(1, 2, 6, 6)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                        "divisor_override": 5}, "avg_pool2d-divisor"),
    Case("avg_pool1d", [(2, 3, 9)], {"kernel_size": 3, "stride": 2, "padding": 1,
                                     "ceil_mode": True, "count_include_pad": False},
         "avg_pool1d"),
    Case("avg_pool3d", [(1, 2, 4, 5, 4)], {"kernel_size": 2, "stride": 2, "padding": 1,
                                           "ceil_mode": True}, "avg_pool3d"),
    # ---- adaptive pooling
    Case("adaptive_avg_pool2d", [(2, 3, 7, 5)], {"output_size": (3, 2)}, "adaptive_avg_pool2d"),
    Case("adaptive_avg_pool2d", [(2, 3, 5, 6)], {"output_size": (None, 4)},
         "adaptive_avg_pool2d-none"),
    Case("adaptive_avg_pool1d", [(2, 3, 10)], {"output_size": 4}, "adaptive_avg_pool1d"),
    Case("adaptive_avg_pool3d", [(1, 2, 5, 4, 3)], {"output_size": (2, 3, 2)},
         "adaptive_avg_pool3d"),
    Case("adaptive_max_pool2d", [(2, 3, 7, 5)], {"output_size": (3, 2)}, "adaptive_max_pool2d"),
    Case("adaptive_max_pool2d", [(2, 3, 6, 6)], {"output_size": 4, "return_indices": True},
         "adaptive_max_pool2d-indices", tuple_out=True),
    # ---- others
    Case("linear", [(4, 5), (3, 5), (3,)], {}, "linear"),
    Case("linear", [(2, 3, 5), (3, 5), None], {}, "linear-3d-nobias"),
    Case("pad", [(2, 3, 4, 5)], {"pad": (1, 2, 2, 1), "mode": "reflect"}, "pad-reflect"),
    Case("pad", [(2, 3, 4, 5)], {"pad": (1, 2, 2, 1), "mode": "replicate"}, "pad-replicate"),
    Case("pad", [(2, 3, 4, 5)], {"pad": (1, 2, 2, 1), "mode": "circular"}, "pad-circular"),
    Case("pad", [(2, 3, 4, 5)], {"pad": (1, -1, 2, 0), "value": 0.5}, "pad-constant"),
]

# max_unpool takes indices from a max pool; these rows are (unpool op, pool kwargs, input shape,
# unpool output_size or None)
UNPOOL_CASES = [
    ("max_unpool2d", {"kernel_size": 2}, (2, 3, 6, 6), None),
    ("max_unpool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 7, 7), (7, 7)),
    ("max_unpool1d", {"kernel_size": 2, "stride": 2}, (2, 3, 9), (9,)),
    ("max_unpool3d", {"kernel_size": 2}, (1, 2, 4, 4, 6), None),
]

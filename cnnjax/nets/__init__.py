"""Feature networks by name, with one API: the activations of named layers.

A spec string names a network and where its weights are:

  classifier             the reference classifier cnnjax ships for the run's
                         dataset (fashion_mnist, digits: cnnjax/nets/weights),
                         else the run at <data dir>/cnnjax_classifiers/<dataset>
  classifier:<workdir>   the newest checkpoint of a `configs/classifier.py` run
  classifier:<file.npz>  a classifier file (`python -m
                         cnnjax.nets.export_classifier WORKDIR` writes one)
  inception_v3           pytorch-fid's Inception v3 from
                         $CNNJAX_INCEPTION_WEIGHTS, else
                         <data dir>/cnnjax_weights/pt_inception-2015-12-05.npz
  inception_v3:<file>    the same network from that converted .npz file
  vgg19, vgg16           torchvision's ImageNet VGG (convolutional part) from
                         $CNNJAX_VGG19_WEIGHTS / $CNNJAX_VGG16_WEIGHTS, else
                         <data dir>/cnnjax_weights/vgg19.npz / vgg16.npz
                         (`python -m cnnjax.nets.convert_vgg` writes one)
  vgg19:<file.npz>       the same network from that converted file
  vgg19:random[:<seed>]  a VGG-19 with random weights scaled per layer as in
                         He, Wang & Hopcroft 2016; no file (seed 0 unless
                         given; vgg16:random too). Its name says so.

`load(spec, ...)` gives a `FeatureNet`, whose pure `apply(weights, images,
layers)` maps images as cnnjax's models see them (float32 [B, H, W, 1|3] in
[-1, 1], any size; each network brings them to its own input as documented
in its module) to {layer name: activations}. FID's extractors take two of
those layers (`evaluation/extractors.py`; VGG has no logits, so it is no
extractor); perceptual and style losses take others. `digest` identifies the
weights and architecture, so cached statistics are never reused across
networks. Nothing here downloads weights.
"""

import dataclasses
import functools
import os
from collections.abc import Callable

from cnnjax.errors import UserError
from cnnjax.nets import classifier, inception, vgg
from cnnjax.nets.base import FeatureNet


def _no_special_path(path: str) -> None:
  del path  # every path names a file or directory


@dataclasses.dataclass(frozen=True)
class Kind:
  default_path: Callable[[str, str], str]  # (dataset, data_dir) -> path
  load: Callable[[str, str, str], FeatureNet]  # (name, path, dataset)
  # path -> its canonical form when it names no file ("random:<seed>"),
  # else None (the path is made absolute).
  special_path: Callable[[str], str | None] = _no_special_path


KINDS = {"classifier": Kind(classifier.default_path, classifier.load),
         "inception_v3": Kind(inception.default_path, inception.load_net),
         **{arch: Kind(functools.partial(vgg.default_path, arch),
                       vgg.load_net, vgg.special_path)
            for arch in ("vgg19", "vgg16")}}


def resolve(spec: str, *, dataset: str, data_dir: str) -> str:
  """A spec with its default path filled in and made absolute."""
  kind, _, path = spec.partition(":")
  if kind not in KINDS:
    raise UserError(f"Unknown feature network {spec!r}; use one of "
                    "classifier, classifier:<workdir or file.npz>, "
                    "inception_v3, "
                    "inception_v3:<weights.npz>, vgg19, vgg19:<weights.npz>, "
                    "vgg19:random[:<seed>] (vgg16 likewise).")
  special = KINDS[kind].special_path(path)
  if special is not None:
    return f"{kind}:{special}"
  if not path:
    path = KINDS[kind].default_path(dataset, data_dir)
  return f"{kind}:{os.path.abspath(os.path.expanduser(path))}"


def load(spec: str, *, dataset: str, data_dir: str) -> FeatureNet:
  """The feature network a spec names (see the module docstring)."""
  name = resolve(spec, dataset=dataset, data_dir=data_dir)
  kind, _, path = name.partition(":")
  return KINDS[kind].load(name, path, dataset)

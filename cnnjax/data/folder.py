"""Images from a folder: `data.name = "folder:<path>"`, for every task.

  photos/                          data.name = "folder:/data/photos"
    cats/a.png  cats/b/c.jpg       -> label 0 ("cats")
    dogs/d.JPEG                    -> label 1 ("dogs")

What is read: every .png/.jpg/.jpeg file (any case) under the folder, in
subfolders too, in the order of their relative paths. Names starting with
"." (hidden files and folders) are skipped, as are other files; symbolic
links to folders are not followed. A relative path is relative to the
current directory, so an absolute one is safer for runs resumed elsewhere.

Labels: when every image sits in a subfolder, the first-level subfolders
are the classes, in sorted order (images deeper down belong to their
first-level folder). When any image sits directly in the folder, the
dataset is unlabeled: label 0, num_classes 0 (the description says why).

Splits: a folder has none of its own, so each image is assigned to one by
a hash of its relative path: "test" holds about 10% of the images, "train"
the rest, "all" every image. The assignment of a file never changes, also
when others are added or removed, so a held-out image stays held out.

Sizes and channels: images may have any size and aspect ratio (the
pipeline crops the largest square and resizes it; see `data.crop`). When
every image is gray (8- or 16-bit), records have 1 channel, else 3 (gray
images are repeated). How each mode is turned into 8-bit pixels, alpha
included, is `image_files.to_pixels`.

Reading: the file list and every header are read when the dataset is
loaded, so a missing, empty or non-image file stops the run before it
starts; pixels are decoded when a record is read, so a file whose data is
cut short fails then, naming the file.
"""

import hashlib
import os
from typing import Any, Sequence

import numpy as np

from cnnjax.data import image_files
from cnnjax.data.sources import ImageSource
from cnnjax.errors import DataError

FOLDER_PREFIX = "folder:"
SPLITS = ("train", "test", "all")
TEST_PERCENT = 10


class FolderSource:
  """Random access to image files; decodes one file per record."""

  def __init__(self, root: str, paths: Sequence[str], labels: np.ndarray,
               channels: int):
    self.root = root
    self.paths = list(paths)  # relative to root, with "/"
    self.labels = np.asarray(labels, dtype=np.int32)
    self.channels = channels

  def __len__(self) -> int:
    return len(self.paths)

  def __getitem__(self, index: int) -> dict[str, Any]:
    index = int(index)
    return {"image": self.image(index), "label": int(self.labels[index])}

  def image(self, index: int) -> np.ndarray:
    """The record's image as uint8 [H, W, channels]."""
    path = os.path.join(self.root, self.paths[index])
    pixels = image_files.to_pixels(image_files.open_image(path))
    if pixels.shape[-1] != self.channels:
      if self.channels == 1:  # the file changed since the folder was loaded
        raise DataError(f"{path} is no longer a gray image; start again to "
                        f"read the folder anew.")
      pixels = np.repeat(pixels, 3, axis=-1)
    return pixels

  def read_batch(self, indices: Sequence[int]):
    """Returns (images, int32 labels); images stacked when shapes agree."""
    images = [self.image(int(i)) for i in indices]
    labels = self.labels[np.asarray(indices, dtype=np.int64)]
    if all(image.shape == images[0].shape for image in images):
      return np.stack(images), labels
    return images, labels


def in_test_split(path: str) -> bool:
  """Whether the file at relative `path` is held out: sha256 of the path,
  as a number, falls in the first TEST_PERCENT of 100 buckets."""
  digest = hashlib.sha256(path.encode("utf-8")).digest()
  return int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT


def find_images(root: str) -> list[str]:
  """Relative paths ("a/b.png") of the image files under `root`, sorted."""
  found = []
  for directory, subdirs, names in os.walk(root):
    subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    relative = os.path.relpath(directory, root)
    for name in names:
      if not name.startswith(".") and image_files.is_image_name(name):
        path = name if relative == "." else os.path.join(relative, name)
        found.append(path.replace(os.sep, "/"))
  return sorted(found)


def class_names(paths: Sequence[str]) -> list[str]:
  """The first-level subfolders when every path is in one, else []."""
  if not paths or any("/" not in path for path in paths):
    return []
  return sorted({path.split("/", 1)[0] for path in paths})


def _root(spec: str) -> str:
  path = spec[len(FOLDER_PREFIX):]
  usage = ("write data.name as folder:<path of a folder of PNG/JPEG files>, "
           "e.g. folder:/data/photos")
  if not path:
    raise DataError(f"'{spec}' names no folder; {usage}.")
  root = os.path.abspath(os.path.expanduser(path))
  if os.path.isfile(root):
    raise DataError(f"{spec}: {root} is a file, not a folder; name the folder "
                    f"that holds the images ({usage}).")
  if not os.path.isdir(root):
    raise DataError(f"{spec}: there is no folder {root}; {usage}.")
  return root


def _fingerprint(root: str, paths: Sequence[str], headers) -> str:
  """sha256 of what a reference-statistics cache must see unchanged: the
  files, their byte sizes and image sizes (not their times: a copy of the
  folder has the same fingerprint)."""
  digest = hashlib.sha256()
  for path, (width, height, _) in zip(paths, headers):
    size = os.path.getsize(os.path.join(root, path))
    digest.update(f"{path}\0{size}\0{width}x{height}\n".encode("utf-8"))
  return digest.hexdigest()


def _describe(root: str, split: str, count: int, total: int,
              classes: list[str], unlabeled_reason: str, channels: int,
              sizes: set, fingerprint: str) -> str:
  if classes:
    shown = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
    labels = f"{len(classes)} classes ({shown})"
  else:
    labels = "unlabeled" + unlabeled_reason
  by_area = sorted(sizes, key=lambda size: (size[0] * size[1], size))
  (small_w, small_h), (big_w, big_h) = by_area[0], by_area[-1]
  size = (f"{small_w}x{small_h}" if len(sizes) == 1 else
          f"{len(sizes)} sizes from {small_w}x{small_h} to {big_w}x{big_h}")
  return (f"folder {root}: split '{split}' ({count} of {total} images), "
          f"{labels}, {'gray' if channels == 1 else 'RGB'}, {size}, "
          f"fingerprint {fingerprint[:12]}")


def load(spec: str, split: str = "train") -> ImageSource:
  """Loads "folder:<path>"; see the module docstring for what it reads."""
  root = _root(spec)
  if split not in SPLITS:
    raise DataError(f"{spec}: unknown split '{split}'; a folder has "
                    f"{', '.join(SPLITS)} (test: the {TEST_PERCENT}% of "
                    f"images a hash of their path picks).")
  paths = find_images(root)
  if not paths:
    raise DataError(
        f"{spec}: {root} holds no .png/.jpg/.jpeg files (subfolders were "
        f"searched; hidden files and folders are skipped). Put images there "
        f"or name another folder.")
  classes = class_names(paths)
  index = {name: i for i, name in enumerate(classes)}
  labels = np.asarray([index[p.split("/", 1)[0]] if classes else 0
                       for p in paths], dtype=np.int32)
  headers = [image_files.probe(os.path.join(root, p)) for p in paths]
  channels = 1 if all(gray for _, _, gray in headers) else 3
  fingerprint = _fingerprint(root, paths, headers)

  keep = [i for i, path in enumerate(paths)
          if split == "all" or in_test_split(path) == (split == "test")]
  if not keep:
    raise DataError(
        f"{spec}: split '{split}' is empty: of its {len(paths)} images, the "
        f"hash of their paths puts none there ('test' holds about "
        f"{TEST_PERCENT}%). Add images, or use split 'all' (data.split, or "
        f"eval.split for evaluations).")
  sizes = {headers[i][:2] for i in keep}
  width, height = next(iter(sizes))
  unlabeled_reason = ""
  if not classes and any("/" in p for p in paths):
    loose = sum("/" not in p for p in paths)
    unlabeled_reason = (f": {loose} images sit directly in the folder, not "
                        f"in class subfolders")
  return ImageSource(
      source=FolderSource(root, [paths[i] for i in keep], labels[keep],
                          channels),
      image_shape=(height, width, channels) if len(sizes) == 1 else None,
      num_classes=len(classes),
      name=spec,
      description=_describe(root, split, len(keep), len(paths), classes,
                            unlabeled_reason, channels, sizes, fingerprint),
      fingerprint=fingerprint,
  )

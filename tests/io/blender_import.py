"""Runs inside Blender: import one .glb, print a JSON line (prefixed AVATAR_IMPORT) saying what Blender made,
and optionally export the scene again with Blender's own glTF exporter.

Usage: blender --background --factory-startup --python tests/io/blender_import.py -- in.glb [out.glb]
"""

import json
import sys

import numpy

# Blender 3.4's glTF importer uses `numpy.bool`, which numpy 1.24-1.26 (Debian's) removed; numpy 2 has it again.
if not hasattr(numpy, "bool"):
    numpy.bool = numpy.bool_

import bpy  # noqa: E402

arguments = sys.argv[sys.argv.index("--") + 1:]
bpy.ops.wm.read_factory_settings(use_empty=True)  # no default cube, camera or light to confuse the counts
bpy.ops.import_scene.gltf(filepath=arguments[0])

meshes = {}
for obj in bpy.data.objects:
    if obj.type != "MESH":
        continue
    keys = obj.data.shape_keys
    meshes[obj.name] = {
        "shape_keys": [block.name for block in keys.key_blocks] if keys else [],
        "vertex_groups": [group.name for group in obj.vertex_groups],
        "armature_modifiers": [m.object.name for m in obj.modifiers if m.type == "ARMATURE" and m.object],
        "vertices": len(obj.data.vertices),
        "materials": [slot.material.name for slot in obj.material_slots if slot.material],
    }
armatures = {obj.name: [bone.name for bone in obj.data.bones] for obj in bpy.data.objects if obj.type == "ARMATURE"}
print("AVATAR_IMPORT " + json.dumps({"meshes": meshes, "armatures": armatures}), flush=True)

if len(arguments) > 1:
    bpy.ops.export_scene.gltf(filepath=arguments[1], export_format="GLB")

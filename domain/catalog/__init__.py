"""The account's catalog: teams and their members, labels, canned responses and custom attribute
definitions, one module each, with the caps they share in `limits`, the checks they share in
`checks`, and the linear-time matcher of attribute patterns in `patterns`."""
